#pragma once
// The vertebral-body detector: ResNet-18 -> FPN -> RetinaNet heads, with its loss and
// post-processing. Input: [N, 1, H, W] normalised slices on the working canvas
// (detect/canvas.h); boxes in canvas pixels.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/detect/anchors.h"
#include "spinescan/detect/box_coder.h"
#include "spinescan/detect/matcher.h"
#include "spinescan/models/fpn.h"
#include "spinescan/models/resnet.h"
#include "spinescan/models/retinanet_head.h"

namespace spinescan::detect {

struct RetinaNetOptions {
  models::ResNetOptions backbone;
  models::FpnOptions fpn;
  models::RetinaNetHeadOptions head;
  AnchorOptions anchors;
  MatcherOptions matcher;
  BoxCoderOptions box_coder;
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  std::string box_loss = "smooth_l1";  // or "giou" (on decoded boxes) or "l1"
  double smooth_l1_beta = 1.0 / 9.0;
  double score_threshold = 0.05;       // candidates kept before NMS
  int64_t topk_candidates = 1000;      // per level, before NMS
  double nms_threshold = 0.5;
  int64_t detections_per_image = 30;   // a lumbar field holds at most ~12 bodies
  void validate() const;
  nlohmann::json to_json() const;
  static RetinaNetOptions from_json(const nlohmann::json& j);
};

struct Detections {
  torch::Tensor boxes;   // [D, 4] canvas pixels
  torch::Tensor scores;  // [D]
  torch::Tensor labels;  // [D] class index
};

struct HeadOutputs {
  torch::Tensor class_logits;  // [N, A, K]
  torch::Tensor box_deltas;    // [N, A, 4]
  torch::Tensor anchors;       // [A, 4]
  std::vector<int64_t> anchors_per_level;
};

struct LossTerms {
  torch::Tensor classification, box_regression;
  torch::Tensor total() const { return classification + box_regression; }
};

class RetinaNetImpl : public torch::nn::Module {
 public:
  explicit RetinaNetImpl(const RetinaNetOptions& options = {});
  HeadOutputs forward(const torch::Tensor& images);
  // targets: per image, boxes [G, 4] and class labels [G] (int64).
  LossTerms loss(const HeadOutputs& out, const std::vector<torch::Tensor>& target_boxes,
                 const std::vector<torch::Tensor>& target_labels) const;
  std::vector<Detections> postprocess(const HeadOutputs& out) const;
  const RetinaNetOptions& options() const { return options_; }
  // Inference only: the backbone's batch norms folded into its convolutions
  // (models::ResNetImpl::fold_batch_norms); eval mode first. A folded net is not saved.
  void fold_batch_norms() { backbone->fold_batch_norms(); }
  bool batch_norms_folded() const { return backbone->batch_norms_folded(); }
  // A probe, not used by analyze: the folded backbone in 8-bit integers, calibrated on these
  // batches of images (models::ResNetImpl::quantize_int8); the FPN and heads stay float.
  void quantize_backbone_int8(const std::vector<torch::Tensor>& calibration_images) {
    backbone->quantize_int8(calibration_images);
  }
  bool backbone_int8() const { return backbone->quantized_int8() || int8_; }
  // The same probe for the whole net: backbone, FPN and heads in 8 bits (group norms as 8-bit group norms),
  // calibrated on these batches; forward() then takes float images and gives float outputs.
  void quantize_int8(const std::vector<torch::Tensor>& calibration_images);
  // Inference only: weights in bfloat16, and forward() casts its input to bfloat16 and its
  // outputs back to float (post-processing and anchors stay float). oneDNN's bfloat16
  // convolutions ran about twice as fast as float with AMX-BF16 and 1.3x with AVX512-BF16
  // (docs/benchmarks.md); boxes and scores move by bfloat16's rounding (8 bits of mantissa).
  // Fold the batch norms first.
  void use_bfloat16();
  bool uses_bfloat16() const { return compute_dtype_ == torch::kBFloat16; }

 private:
  RetinaNetOptions options_;
  models::ResNet backbone{nullptr};
  models::Fpn fpn{nullptr};
  models::RetinaNetHead head{nullptr};
  bool int8_ = false;
  std::map<std::vector<int64_t>, torch::Tensor> anchor_cache_;
  torch::Dtype compute_dtype_ = torch::kFloat;
};
TORCH_MODULE(RetinaNet);

}  // namespace spinescan::detect
