#pragma once
// RetinaNet classification and box-regression heads (Lin et al. 2017), shared over levels.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <vector>

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

 private:
  RetinaNetHeadOptions options_;
  torch::nn::Sequential cls_tower{nullptr}, box_tower{nullptr};
  torch::nn::Conv2d cls_logits{nullptr}, box_deltas{nullptr};
};
TORCH_MODULE(RetinaNetHead);

}  // namespace spinescan::models
