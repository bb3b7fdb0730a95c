#pragma once
// Stateless box and loss functions on tensors. Boxes are [N, 4] float (x1, y1, x2, y2) with
// pixel-edge coordinates (x2 > x1 for a non-empty box).
#include <torch/types.h>

namespace spinescan::ops {

torch::Tensor box_area(const torch::Tensor& boxes);                         // [N]
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);      // [N, M]
torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b);  // elementwise, [N]

// Greedy non-maximum suppression. Returns the indices kept, highest score first. Among equal
// scores the box with the lower index is visited first (stable sort), so results do not
// depend on the sort implementation.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold);
// NMS within each class `idxs` independently (boxes of different classes never suppress).
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& idxs,
                          double iou_threshold);

// Sigmoid focal loss (Lin et al. 2017), summed over all elements:
//   FL = -alpha_t * (1 - p_t)^gamma * log(p_t), alpha_t = alpha for targets 1, 1 - alpha for 0.
// alpha < 0 disables the weighting.
torch::Tensor sigmoid_focal_loss(const torch::Tensor& logits, const torch::Tensor& targets, double alpha = 0.25,
                                 double gamma = 2.0);

}  // namespace spinescan::ops
