#pragma once
// Box <-> regression-target coding relative to anchors (Faster R-CNN parameterisation):
//   dx = (cx - cx_a) / w_a, dy = (cy - cy_a) / h_a, dw = log(w / w_a), dh = log(h / h_a),
// each multiplied by its weight.
#include <torch/types.h>

#include <array>
#include <cmath>

namespace spinescan::detect {

struct BoxCoderOptions {
  std::array<double, 4> weights{1.0, 1.0, 1.0, 1.0};
  double max_log_scale = std::log(1000.0 / 16.0);  // clamp on dw, dh before exp()
};

torch::Tensor encode_boxes(const torch::Tensor& boxes, const torch::Tensor& anchors, const BoxCoderOptions& o = {});
torch::Tensor decode_boxes(const torch::Tensor& deltas, const torch::Tensor& anchors, const BoxCoderOptions& o = {});

}  // namespace spinescan::detect
