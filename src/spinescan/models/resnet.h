#pragma once
// ResNet-18 (He et al. 2016) for single-channel MR slices: BasicBlocks, batch norm.
// forward() returns the stage outputs C2..C5 (strides 4, 8, 16, 32) for the FPN.
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "spinescan/models/int8.h"

#include <array>
#include <optional>
#include <vector>

namespace spinescan::models {

struct ResNetOptions {
  int in_channels = 1;
  std::array<int, 4> widths{64, 128, 256, 512};  // channels of stages C2..C5
  std::array<int, 4> blocks{2, 2, 2, 2};         // BasicBlocks per stage: ResNet-18
};

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int in_channels, int out_channels, int stride);
  torch::Tensor forward(const torch::Tensor& x);
  void fold_batch_norms();  // ResNetImpl::fold_batch_norms
  // 8 bits (ResNetImpl::quantize_int8): the convolutions from the recorded ranges, then the
  // 8-bit forward (unsigned 8-bit in and out); int8_ranges appends this block's ranges.
  void quantize_int8();
  torch::Tensor forward_int8(const torch::Tensor& quantized_x) const;
  void int8_ranges(std::vector<ActivationRange*>& out);

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // conv 1x1, batch norm
  bool folded_ = false;
  std::shared_ptr<torch::nn::Conv2dImpl> shortcut_conv() const;  // downsample's conv
  // Ranges after conv1 + ReLU, after conv2, after the shortcut's conv, and of the block's output.
  ActivationRange range1_, range2_, range_shortcut_, range_out_;
  std::optional<Int8Conv> int8_conv1_, int8_conv2_, int8_shortcut_;
};
TORCH_MODULE(BasicBlock);

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options = {});
  // [N, in_channels, H, W] -> {C2, C3, C4, C5}
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  const ResNetOptions& options() const { return options_; }
  // Inference only: each batch norm's running statistics and affine become a scale on the
  // weights and a bias of the convolution before it, so a forward pass makes one trip over
  // each feature map instead of two. The same function of the input (to float rounding); the
  // network must be in eval mode, cannot be trained again (train() refuses) and is not saved
  // by the trainers. Folding twice is a no-op.
  void fold_batch_norms();
  bool batch_norms_folded() const { return folded_; }
  void train(bool on = true) override;
  // Inference only, 8-bit integers (models/int8.h): a folded net's float forward records, under
  // an Int8RangeRecording, the range at each point where the 8-bit forward quantizes a tensor
  // (the stem's output and four points per block). quantize_int8 then keeps every convolution
  // after the stem as an 8-bit one with those ranges, and forward() runs the stem in float, the
  // stages in 8 bits (oneDNN's engine) and returns C2..C5 in float; forward_int8 returns them
  // still in 8 bits, for the FPN. Inputs beyond the recorded ranges saturate.
  void quantize_int8();
  bool quantized_int8() const { return int8_; }
  std::vector<torch::Tensor> forward_int8(const torch::Tensor& x);
  // Every range, in a fixed order (stored in bundles: RetinaNetImpl::int8_ranges).
  void int8_ranges(std::vector<ActivationRange*>& out);

 private:
  ResNetOptions options_;
  bool folded_ = false;
  bool int8_ = false;
  ActivationRange stem_range_;  // the stem's output after max pooling: the stages' input
  // relu(stem_conv(x)) of a folded net (its bias is the folded batch norm), channels-last.
  torch::Tensor folded_stem(const torch::Tensor& x);
  torch::nn::Conv2d stem_conv{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::array<torch::nn::Sequential, 4> stages;
};
TORCH_MODULE(ResNet);

}  // namespace spinescan::models
