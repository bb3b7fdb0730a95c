#include "spinescan/models/resnet.h"

#include <torch/torch.h>

#include "spinescan/models/initial_weights.h"
#include "spinescan/models/int8.h"

namespace spinescan::models {

namespace nn = torch::nn;

namespace {
// The stem: a 7 x 7 convolution, stride 2, padding 3 (then 3 x 3 max pooling, stride 2).
constexpr int kStemKernel = 7, kStemStride = 2, kStemPadding = 3;

nn::Conv2d conv(int in, int out, int kernel, int stride, int padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// bn(conv(x)) in eval mode is conv(x) * s + (beta - mean * s), s = gamma / sqrt(var + eps), per
// output channel: the scale goes into the weights, the rest becomes the (bias-less) conv's bias.
void fold_into(nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  const auto scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  conv.weight.mul_(scale.reshape({-1, 1, 1, 1}));
  // ConvNdImpl's forward reads its `bias` member. The registered "bias" parameter is undefined
  // (the conv was built without one) and cannot be registered again, so the folded bias is a
  // buffer that the member shares: Module::to() converts buffers in place, so a later change
  // of dtype or device reaches the member too. Not a parameter: a folded net does not train.
  conv.bias = conv.register_buffer("folded_bias", bn.bias - bn.running_mean * scale);
}
}  // namespace

BasicBlockImpl::BasicBlockImpl(int in_channels, int out_channels, int stride) {
  conv1 = register_module("conv1", conv(in_channels, out_channels, 3, stride, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(out_channels));
  conv2 = register_module("conv2", conv(out_channels, out_channels, 3, 1, 1));
  bn2 = register_module("bn2", nn::BatchNorm2d(out_channels));
  // Zero-initialised last BN gamma: each block starts as the identity, which makes
  // training from scratch (no ImageNet weights here) markedly more stable (Goyal et al. 2017).
  nn::init::zeros_(bn2->weight);
  if (stride != 1 || in_channels != out_channels)
    downsample = register_module("downsample", nn::Sequential(conv(in_channels, out_channels, 1, stride, 0),
                                                              nn::BatchNorm2d(out_channels)));
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  if (folded_) {
    auto a = conv1(x).relu_();
    range1_.record(a);
    auto b = conv2(a);
    range2_.record(b);
    torch::Tensor shortcut = x;
    if (downsample) {
      shortcut = shortcut_conv()->forward(x);
      range_shortcut_.record(shortcut);
    }
    auto y = b.add_(shortcut).relu_();
    range_out_.record(y);
    return y;
  }
  auto y = torch::relu(bn1(conv1(x)));
  y = bn2(conv2(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

void BasicBlockImpl::int8_ranges(std::vector<ActivationRange*>& out) {
  out.insert(out.end(), {&range1_, &range2_});
  if (downsample) out.push_back(&range_shortcut_);
  out.push_back(&range_out_);
}

void BasicBlockImpl::quantize_int8() {
  TORCH_CHECK(folded_, "ResNet int8: fold the batch norms first");
  int8_conv1_ = Int8Conv(*conv1, range1_);
  int8_conv2_ = Int8Conv(*conv2, range2_);
  if (downsample) int8_shortcut_ = Int8Conv(*shortcut_conv(), range_shortcut_);
}

torch::Tensor BasicBlockImpl::forward_int8(const torch::Tensor& quantized_x) const {
  TORCH_CHECK(int8_conv1_ && int8_conv2_, "ResNet int8: the block was not quantized");
  const auto a = int8_conv1_->forward(quantized_x, /*relu=*/true);
  const auto b = int8_conv2_->forward(a, /*relu=*/false);
  const auto shortcut = int8_shortcut_ ? int8_shortcut_->forward(quantized_x, /*relu=*/false) : quantized_x;
  return int8_add(b, shortcut, range_out_, /*relu=*/true);
}

std::shared_ptr<nn::Conv2dImpl> BasicBlockImpl::shortcut_conv() const {
  return std::dynamic_pointer_cast<nn::Conv2dImpl>(downsample->ptr(0));
}

void BasicBlockImpl::fold_batch_norms() {
  if (folded_) return;
  fold_into(*conv1, *bn1);
  fold_into(*conv2, *bn2);
  if (downsample) fold_into(*shortcut_conv(), *std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(downsample->ptr(1)));
  folded_ = true;
}

ResNetImpl::ResNetImpl(const ResNetOptions& o) : options_(o) {
  stem_conv = register_module("stem_conv", conv(o.in_channels, o.widths[0], kStemKernel, kStemStride, kStemPadding));
  stem_bn = register_module("stem_bn", nn::BatchNorm2d(o.widths[0]));
  int in = o.widths[0];
  for (int s = 0; s < 4; ++s) {
    nn::Sequential stage;
    for (int b = 0; b < o.blocks[s]; ++b) {
      stage->push_back(BasicBlock(in, o.widths[s], (b == 0 && s > 0) ? 2 : 1));
      in = o.widths[s];
    }
    stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  if (!initial_weights_wanted()) return;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* c = m->as<nn::Conv2d>()) nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
}

void ResNetImpl::fold_batch_norms() {
  TORCH_CHECK(!is_training(), "ResNet::fold_batch_norms: the network must be in eval mode");
  if (folded_) return;
  fold_into(*stem_conv, *stem_bn);
  for (auto& stage : stages)
    for (size_t b = 0; b < stage->size(); ++b) stage->ptr<BasicBlockImpl>(b)->fold_batch_norms();
  folded_ = true;
}

void ResNetImpl::train(bool on) {
  TORCH_CHECK(!(on && folded_), "ResNet: batch norms folded for inference cannot be trained");
  nn::Module::train(on);
}

void ResNetImpl::quantize_int8() {
  TORCH_CHECK(folded_, "ResNet::quantize_int8: fold the batch norms first");
  use_onednn_quantized_engine();

  for (auto& stage : stages)
    for (size_t b = 0; b < stage->size(); ++b) stage->ptr<BasicBlockImpl>(b)->quantize_int8();
  int8_ = true;
}

void ResNetImpl::int8_ranges(std::vector<ActivationRange*>& out) {
  out.push_back(&stem_range_);
  for (auto& stage : stages)
    for (size_t b = 0; b < stage->size(); ++b) stage->ptr<BasicBlockImpl>(b)->int8_ranges(out);
}

torch::Tensor ResNetImpl::folded_stem(const torch::Tensor& x) {
  if (x.scalar_type() != torch::kFloat || !x.device().is_cpu()) return stem_conv(x).relu_();
  // oneDNN's direct convolution for a single input channel ran at 12-24 GFLOP/s and wrote a
  // blocked layout that was then reordered back to NCHW: 50-65 ms per 8 slices of 256 x 256,
  // for 0.4 GFLOP. As a matrix product over the 7 x 7 patches (im2col) the same sums take BLAS's
  // fast path and land channels-last, which the convolutions after it then keep (fewer
  // reorders): the float detector 30 -> 25 ms a slice, the 8-bit one 14 -> 10.5
  // (docs/benchmarks.md). The same function to float rounding.
  const auto& w = stem_conv->weight;
  const int64_t n = x.size(0), out_channels = w.size(0);
  const auto out_size = [](int64_t in) { return (in + 2 * kStemPadding - kStemKernel) / kStemStride + 1; };
  const int64_t out_h = out_size(x.size(2)), out_w = out_size(x.size(3));
  const auto patches = at::im2col(x, {kStemKernel, kStemKernel}, {1, 1}, {kStemPadding, kStemPadding},
                                  {kStemStride, kStemStride});  // [N, C*49, H'W']
  // [N, H'W', C*49] x [C*49, 64] -> [N, H'W', 64]: NHWC, seen as NCHW with channels-last strides.
  auto y = at::matmul(patches.transpose(1, 2), w.reshape({out_channels, -1}).t()).add_(stem_conv->bias).relu_();
  return y.view({n, out_h, out_w, out_channels}).permute({0, 3, 1, 2});
}

std::vector<torch::Tensor> ResNetImpl::forward_int8(const torch::Tensor& x) {
  TORCH_CHECK(int8_, "ResNet::forward_int8: not quantized");
  // The stem (one input channel, 7x7) stays in float: a poor fit for 8-bit kernels. Its output
  // is channels-last already, the layout the 8-bit layers read.
  auto q = stem_range_.quantize(torch::max_pool2d(folded_stem(x), 3, 2, 1));
  std::vector<torch::Tensor> out;
  for (auto& stage : stages) {
    for (size_t b = 0; b < stage->size(); ++b) q = stage->ptr<BasicBlockImpl>(b)->forward_int8(q);
    out.push_back(q);
  }
  return out;
}

std::vector<torch::Tensor> ResNetImpl::forward(const torch::Tensor& x) {
  if (int8_) {
    auto out = forward_int8(x);
    for (auto& t : out) t = t.dequantize();
    return out;
  }
  auto y = folded_ ? folded_stem(x) : torch::relu(stem_bn(stem_conv(x)));
  y = torch::max_pool2d(y, 3, 2, 1);
  stem_range_.record(y);
  std::vector<torch::Tensor> out;
  for (auto& stage : stages) {
    y = stage->forward(y);
    out.push_back(y);
  }
  return out;
}

}  // namespace spinescan::models
