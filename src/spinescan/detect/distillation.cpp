#include "spinescan/detect/distillation.h"

#include <torch/torch.h>

#include <algorithm>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

LossTerms distillation_loss(const HeadOutputs& student, const HeadOutputs& teacher, double smooth_l1_beta) {
  SPINESCAN_CHECK_AS(student.class_logits.sizes() == teacher.class_logits.sizes() &&
                         student.box_deltas.sizes() == teacher.box_deltas.sizes(),
                     ModelError, "distillation: the teacher's outputs (", teacher.class_logits.sizes(),
                     ") do not match the student's (", student.class_logits.sizes(),
                     "): the two detectors need the same canvas, pyramid levels and anchors");
  const auto target = torch::sigmoid(teacher.class_logits.detach());
  // BCE(student, p_t) - BCE(p_t, p_t): the KL divergence of Bernoulli(p_s) from Bernoulli(p_t).
  const auto cross = torch::binary_cross_entropy_with_logits(student.class_logits, target, {}, {}, at::Reduction::Sum);
  const auto entropy =
      torch::binary_cross_entropy_with_logits(teacher.class_logits.detach(), target, {}, {}, at::Reduction::Sum);
  const auto confident = std::get<0>(target.max(-1)) > 0.5;  // [N, A]
  const int64_t num_confident = confident.sum().item<int64_t>();
  auto box = torch::zeros({}, student.box_deltas.options());
  if (num_confident > 0)
    box = torch::smooth_l1_loss(student.box_deltas.index({confident}), teacher.box_deltas.detach().index({confident}),
                                at::Reduction::Sum, smooth_l1_beta);
  const double norm = static_cast<double>(std::max<int64_t>(1, num_confident));
  return {(cross - entropy) / norm, box / norm};
}

}  // namespace spinescan::detect
