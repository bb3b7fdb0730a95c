#include "spinescan/detect/box_coder.h"

#include <torch/torch.h>

namespace spinescan::detect {

namespace {
struct CenterForm {
  torch::Tensor cx, cy, w, h;
};
CenterForm center_form(const torch::Tensor& b) {
  const auto w = b.select(-1, 2) - b.select(-1, 0), h = b.select(-1, 3) - b.select(-1, 1);
  return {b.select(-1, 0) + 0.5 * w, b.select(-1, 1) + 0.5 * h, w, h};
}
}  // namespace

torch::Tensor encode_boxes(const torch::Tensor& boxes, const torch::Tensor& anchors, const BoxCoderOptions& o) {
  const auto a = center_form(anchors), b = center_form(boxes);
  return torch::stack({o.weights[0] * (b.cx - a.cx) / a.w, o.weights[1] * (b.cy - a.cy) / a.h,
                       o.weights[2] * torch::log(b.w / a.w), o.weights[3] * torch::log(b.h / a.h)},
                      -1);
}

torch::Tensor decode_boxes(const torch::Tensor& d, const torch::Tensor& anchors, const BoxCoderOptions& o) {
  const auto a = center_form(anchors);
  const auto dx = d.select(-1, 0) / o.weights[0], dy = d.select(-1, 1) / o.weights[1];
  const auto dw = (d.select(-1, 2) / o.weights[2]).clamp_max(o.max_log_scale);
  const auto dh = (d.select(-1, 3) / o.weights[3]).clamp_max(o.max_log_scale);
  const auto cx = dx * a.w + a.cx, cy = dy * a.h + a.cy, w = torch::exp(dw) * a.w, h = torch::exp(dh) * a.h;
  return torch::stack({cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h}, -1);
}

}  // namespace spinescan::detect
