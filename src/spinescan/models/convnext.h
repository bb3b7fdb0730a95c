#pragma once
// ConvNeXt (Liu et al. 2022) for single-channel (or 2.5D multi-slice) vertebra crops:
// a patchify stem, four stages of ConvNeXt blocks (7x7 depthwise conv, LayerNorm over
// channels, pointwise MLP with 4x expansion and GELU, layer scale, stochastic depth) joined
// by LayerNorm + 2x2 stride-2 downsampling, then global average pooling, LayerNorm, linear head.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <string>
#include <vector>

namespace spinescan::models {

struct ConvNextOptions {
  int in_channels = 1;
  int num_classes = 1;                      // one logit: p(pathological)
  std::array<int, 4> depths{2, 2, 6, 2};    // blocks per stage
  std::array<int, 4> dims{40, 80, 160, 320};  // channels per stage ("atto")
  double drop_path_rate = 0.0;              // stochastic depth, rising linearly over blocks to this
  double layer_scale_init = 1e-6;
  double head_dropout = 0.0;
  // -1: the head reads the average over the last stage's map only (as in timm). 0..3: it also
  // reads the per-channel maximum over stage k's output map (stride 4 * 2^k), so that a spot a few
  // pixels wide can decide the verdict: after 32-fold downsampling a 5-15 mm focus is mixed
  // into its surroundings, and an average over the crop dilutes it (issue 18's metastasis blind
  // spot; test_convnext.cpp, FindsASmallBrightSpot*).
  int max_pool_stage = -1;
  // Width of the pooled features the head reads: dims[3], plus dims[max_pool_stage] if set.
  int pooled_width() const;
  // Named sizes of the ConvNeXt family (widths and depths as in timm's convnext_*):
  // atto, femto, pico, nano, tiny; "micro" (1 block per stage, 8..64 wide) and "mini" (24..192 wide, 1/1/2/1 blocks),
  // far below atto's cost. Throws ConfigError for another name.
  static ConvNextOptions preset(const std::string& name);
  void validate() const;
};

// LayerNorm over the channel axis of [N, C, H, W] tensors, with a learnt per-channel scale and shift.
class ChannelLayerNormImpl : public torch::nn::Module {
 public:
  explicit ChannelLayerNormImpl(int channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(ChannelLayerNorm);

// Drops the whole residual branch of a sample with probability p while training, scaling
// kept samples by 1 / (1 - p); the identity in eval mode.
class DropPathImpl : public torch::nn::Module {
 public:
  explicit DropPathImpl(double p = 0.0) : p_(p) {}
  torch::Tensor forward(const torch::Tensor& x);
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(DropPath);

class ConvNextBlockImpl : public torch::nn::Module {
 public:
  ConvNextBlockImpl(int dim, double drop_path, double layer_scale_init);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d depthwise{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear expand{nullptr}, project{nullptr};
  torch::Tensor gamma;
  DropPath drop_path{nullptr};
};
TORCH_MODULE(ConvNextBlock);

class ConvNextImpl : public torch::nn::Module {
 public:
  explicit ConvNextImpl(const ConvNextOptions& options = {});
  // [N, in_channels, H, W] (H, W multiples of 32) -> logits [N, num_classes]
  torch::Tensor forward(const torch::Tensor& x);
  // Pooled features before the head: [N, options().pooled_width()].
  torch::Tensor features(const torch::Tensor& x);
  // The head on pooled features (forward(x) == logits_of(features(x)) in eval mode).
  torch::Tensor logits_of(const torch::Tensor& features);
  const ConvNextOptions& options() const { return options_; }

 private:
  ConvNextOptions options_;
  torch::nn::ModuleList downsample{nullptr}, stages{nullptr};
  torch::nn::LayerNorm head_norm{nullptr};
  torch::nn::LayerNorm max_norm{nullptr};  // only with max_pool_stage >= 0, so older weights load unchanged
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(ConvNext);

}  // namespace spinescan::models
