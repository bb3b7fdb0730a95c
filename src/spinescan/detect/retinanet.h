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
  // Inference only, 8-bit integers (models/int8.h; `--detector-precision int8`, measured in
  // docs/benchmarks.md). calibrate_int8 runs a folded float net over these batches, recording the
  // range at each point where the 8-bit forward quantizes a tensor (earlier ranges are forgotten);
  // int8_ranges gives them as [[min, max], ...] in a fixed order, as bundles store them, and
  // set_int8_ranges takes them back. quantize_int8 then puts the backbone (but its stem), the FPN
  // and both heads in 8 bits (oneDNN's quantized engine); forward() still takes float images and
  // gives float outputs, and anchors and decoding stay float. Inputs beyond the ranges saturate.
  void calibrate_int8(const std::vector<torch::Tensor>& calibration_images);
  nlohmann::json int8_ranges();
  void set_int8_ranges(const nlohmann::json& ranges);
  void quantize_int8();
  bool uses_int8() const { return int8_; }
  // Inference only: weights in bfloat16, and forward() casts its input to bfloat16 and its
  // outputs back to float (post-processing and anchors stay float). oneDNN's bfloat16
  // convolutions ran about twice as fast as float with AMX-BF16 and 1.3x with AVX512-BF16
  // (docs/benchmarks.md); boxes and scores move by bfloat16's rounding (8 bits of mantissa).
  // Fold the batch norms first.
  void use_bfloat16();
  bool uses_bfloat16() const { return compute_dtype_ == torch::kBFloat16; }
  // "int8", "bf16" or "fp32", as --detector-precision names them (reports, metrics.json).
  const char* precision_name() const { return int8_ ? "int8" : uses_bfloat16() ? "bf16" : "fp32"; }

 private:
  RetinaNetOptions options_;
  models::ResNet backbone{nullptr};
  models::Fpn fpn{nullptr};
  models::RetinaNetHead head{nullptr};
  bool int8_ = false;
  std::vector<models::ActivationRange*> int8_range_points();
  std::map<std::vector<int64_t>, torch::Tensor> anchor_cache_;
  torch::Dtype compute_dtype_ = torch::kFloat;
};
TORCH_MODULE(RetinaNet);

}  // namespace spinescan::detect
