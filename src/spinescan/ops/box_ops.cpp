#include "spinescan/ops/box_ops.h"

#include <torch/torch.h>

namespace spinescan::ops {

torch::Tensor box_area(const torch::Tensor& b) {
  return (b.select(1, 2) - b.select(1, 0)).clamp_min(0) * (b.select(1, 3) - b.select(1, 1)).clamp_min(0);
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  const auto area_a = box_area(a), area_b = box_area(b);
  const auto lt = torch::max(a.unsqueeze(1).slice(2, 0, 2), b.unsqueeze(0).slice(2, 0, 2));  // [N, M, 2]
  const auto rb = torch::min(a.unsqueeze(1).slice(2, 2, 4), b.unsqueeze(0).slice(2, 2, 4));
  const auto wh = (rb - lt).clamp_min(0);
  const auto inter = wh.select(2, 0) * wh.select(2, 1);
  const auto uni = area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter;
  return inter / uni.clamp_min(1e-9);
}

torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  const auto lt = torch::max(a.slice(1, 0, 2), b.slice(1, 0, 2));
  const auto rb = torch::min(a.slice(1, 2, 4), b.slice(1, 2, 4));
  const auto wh = (rb - lt).clamp_min(0);
  const auto inter = wh.select(1, 0) * wh.select(1, 1);
  const auto uni = box_area(a) + box_area(b) - inter;
  const auto iou = inter / uni.clamp_min(1e-9);
  const auto hull_wh = (torch::max(a.slice(1, 2, 4), b.slice(1, 2, 4)) - torch::min(a.slice(1, 0, 2), b.slice(1, 0, 2))).clamp_min(0);
  const auto hull = (hull_wh.select(1, 0) * hull_wh.select(1, 1)).clamp_min(1e-9);
  return iou - (hull - uni) / hull;
}

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  const int64_t n = boxes.size(0);
  if (n == 0) return torch::empty({0}, torch::kLong);
  const auto cpu_boxes = boxes.to(torch::kCPU, torch::kFloat).contiguous();
  const auto order = std::get<1>(scores.to(torch::kCPU).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto areas = box_area(cpu_boxes);
  const float* b = cpu_boxes.data_ptr<float>();
  const float* area = areas.data_ptr<float>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<char> suppressed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t oi = 0; oi < n; ++oi) {
    const int64_t i = ord[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t oj = oi + 1; oj < n; ++oj) {
      const int64_t j = ord[oj];
      if (suppressed[j]) continue;
      const float w = std::min(b[4 * i + 2], b[4 * j + 2]) - std::max(b[4 * i], b[4 * j]);
      const float h = std::min(b[4 * i + 3], b[4 * j + 3]) - std::max(b[4 * i + 1], b[4 * j + 1]);
      if (w <= 0 || h <= 0) continue;
      const float inter = w * h;
      if (inter / (area[i] + area[j] - inter) > iou_threshold) suppressed[j] = 1;
    }
  }
  return torch::tensor(keep, torch::kLong).to(boxes.device());
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& idxs,
                          double iou_threshold) {
  if (boxes.size(0) == 0) return torch::empty({0}, torch::kLong);
  // Shift each class into its own region so boxes of different classes cannot overlap.
  const auto offset = idxs.to(boxes.dtype()) * (boxes.max() + 1);
  return nms(boxes + offset.unsqueeze(1), scores, iou_threshold);
}

torch::Tensor sigmoid_focal_loss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha, double gamma) {
  const auto p = torch::sigmoid(logits);
  const auto ce = torch::binary_cross_entropy_with_logits(logits, targets, {}, {}, at::Reduction::None);
  const auto p_t = p * targets + (1 - p) * (1 - targets);
  auto loss = ce * torch::pow(1 - p_t, gamma);
  if (alpha >= 0) loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss;
  return loss.sum();
}

}  // namespace spinescan::ops
