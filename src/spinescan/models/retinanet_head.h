#pragma once
// RetinaNet classification and box-regression heads (Lin et al. 2017), shared over levels.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <vector>

#include "spinescan/models/int8.h"

namespace spinescan::models {

struct RetinaNetHeadOptions {
  int in_channels = 128;
  int num_convs = 2;           // the paper uses 4 x 256 channels; see docs/model_card.md
  int num_anchors = 9;
  int num_classes = 1;         // 'vertebral body'
  double prior_probability = 0.01;  // initial foreground probability (focal-loss paper)
  int group_norm_groups = 16;  // 0 = no normalisation
};

class RetinaNetHeadImpl : public torch::nn::Module {
 public:
  explicit RetinaNetHeadImpl(const RetinaNetHeadOptions& options = {});
  // levels: {[N, C, H_l, W_l]} -> {class logits [N, sum HWA, K], box deltas [N, sum HWA, 4]},
  // ordered level, y, x, anchor (as the anchor generator).
  std::pair<torch::Tensor, torch::Tensor> forward(const std::vector<torch::Tensor>& levels);
  const RetinaNetHeadOptions& options() const { return options_; }
  // 8 bits (models/int8.h): forward() records each tower's ranges under an Int8RangeRecording;
  // quantize_int8 puts each tower's convolutions in 8 bits, a group norm (which cannot be folded)
  // becoming an 8-bit group norm into the range after its ReLU; forward_int8's outputs come back
  // in float.
  void quantize_int8();
  std::pair<torch::Tensor, torch::Tensor> forward_int8(const std::vector<torch::Tensor>& quantized_levels) const;
  void int8_ranges(std::vector<ActivationRange*>& out);

 private:
  RetinaNetHeadOptions options_;
  // Per tower (class, box): each conv's output range, each block's range after its ReLU, the
  // final conv's output range; and their 8-bit convolutions.
  struct Int8Tower {
    std::vector<ActivationRange> conv_range, block_range;
    ActivationRange final_range;
    std::vector<Int8Conv> convs;
    Int8Conv final_conv;
  };
  std::array<Int8Tower, 2> int8_towers_;
  torch::Tensor tower_forward(torch::nn::Sequential& tower, torch::nn::Conv2d& final, Int8Tower& t, torch::Tensor x);
  torch::Tensor tower_int8(const torch::nn::Sequential& tower, const Int8Tower& t, torch::Tensor q) const;
  torch::nn::Sequential cls_tower{nullptr}, box_tower{nullptr};
  torch::nn::Conv2d cls_logits{nullptr}, box_deltas{nullptr};
};
TORCH_MODULE(RetinaNetHead);

}  // namespace spinescan::models
