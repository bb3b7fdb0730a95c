#include "spinescan/models/resnet.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "spinescan/models/initial_weights.h"

namespace spinescan::models {

namespace nn = torch::nn;

namespace {
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
// Scale and zero point of an unsigned 8-bit tensor covering the range (and 0).
std::pair<double, int64_t> uint8_parameters(const ActivationRange& range) {
  TORCH_CHECK(range.seen, "ResNet int8: a point of the network saw no calibration data");
  const double lo = std::min(0.0f, range.min), hi = std::max(0.0f, range.max);
  const double scale = std::max(1e-8, (hi - lo) / 255);
  return {scale, std::clamp<int64_t>(std::llround(-lo / scale), 0, 255)};
}

// The quantized operators are registered with the dispatcher by libtorch_cpu; their C++ types
// (the packed weights) are not in the installed headers, so they are called boxed.
torch::Tensor call_quantized(const char* name, const char* overload, torch::jit::Stack stack) {
  const auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
  op.callBoxed(&stack);
  return stack.at(0).toTensor();
}

Int8Conv make_int8_conv(const nn::Conv2dImpl& conv, const ActivationRange& output_range) {
  torch::NoGradGuard no_grad;
  const auto weight = conv.weight.detach().to(torch::kFloat).contiguous();
  const auto scales = (weight.abs().amax({1, 2, 3}).clamp_min(1e-12) / 127).to(torch::kDouble);
  const auto quantized_weight =
      at::quantize_per_channel(weight, scales, torch::zeros({weight.size(0)}, torch::kLong), 0, at::kQInt8);
  c10::optional<at::Tensor> bias;
  if (conv.bias.defined()) bias = conv.bias.detach().to(torch::kFloat).contiguous();
  const auto& o = conv.options;
  const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  torch::jit::Stack stack{quantized_weight, bias, std::vector<int64_t>(o.stride()->begin(), o.stride()->end()),
                          std::vector<int64_t>(padding->begin(), padding->end()),
                          std::vector<int64_t>(o.dilation()->begin(), o.dilation()->end()), o.groups()};
  c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_prepack", "").callBoxed(&stack);
  Int8Conv out;
  out.packed = stack.at(0);
  std::tie(out.output_scale, out.output_zero_point) = uint8_parameters(output_range);
  return out;
}
}  // namespace

void ActivationRange::observe(const torch::Tensor& t) {
  const float lo = t.min().item<float>(), hi = t.max().item<float>();
  min = seen ? std::min(min, lo) : lo;
  max = seen ? std::max(max, hi) : hi;
  seen = true;
}

torch::Tensor Int8Conv::forward(const torch::Tensor& quantized_input, bool relu) const {
  return call_quantized(relu ? "quantized::conv2d_relu" : "quantized::conv2d", "new",
                        {quantized_input, packed, output_scale, output_zero_point});
}

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
    auto y = conv2(conv1(x).relu_());
    return y.add_(downsample ? shortcut_conv()->forward(x) : x).relu_();
  }
  auto y = torch::relu(bn1(conv1(x)));
  y = bn2(conv2(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

torch::Tensor BasicBlockImpl::forward_observed(const torch::Tensor& x) {
  TORCH_CHECK(folded_, "ResNet int8: fold the batch norms first");
  auto a = conv1(x).relu_();
  range1_.observe(a);
  auto b = conv2(a);
  range2_.observe(b);
  torch::Tensor shortcut = x;
  if (downsample) {
    shortcut = shortcut_conv()->forward(x);
    range_shortcut_.observe(shortcut);
  }
  auto y = b.add_(shortcut).relu_();
  range_out_.observe(y);
  return y;
}

void BasicBlockImpl::quantize_int8() {
  int8_conv1_ = make_int8_conv(*conv1, range1_);
  int8_conv2_ = make_int8_conv(*conv2, range2_);
  if (downsample) int8_shortcut_ = make_int8_conv(*shortcut_conv(), range_shortcut_);
  out_scale_ = uint8_parameters(range_out_).first;  // after a ReLU: zero point 0
}

torch::Tensor BasicBlockImpl::forward_int8(const torch::Tensor& quantized_x) const {
  TORCH_CHECK(int8_conv1_ && int8_conv2_, "ResNet int8: the block was not quantized");
  const auto a = int8_conv1_->forward(quantized_x, /*relu=*/true);
  const auto b = int8_conv2_->forward(a, /*relu=*/false);
  const auto shortcut = int8_shortcut_ ? int8_shortcut_->forward(quantized_x, /*relu=*/false) : quantized_x;
  return call_quantized("quantized::add_relu", "", {b, shortcut, out_scale_, int64_t{0}});
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
  stem_conv = register_module("stem_conv", conv(o.in_channels, o.widths[0], 7, 2, 3));
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

void ResNetImpl::quantize_int8(const std::vector<torch::Tensor>& calibration_batches) {
  TORCH_CHECK(folded_, "ResNet::quantize_int8: fold the batch norms first");
  TORCH_CHECK(!calibration_batches.empty(), "ResNet::quantize_int8: no calibration batch");
  const auto engines = at::globalContext().supportedQEngines();
  TORCH_CHECK(std::find(engines.begin(), engines.end(), at::kONEDNN) != engines.end(),
              "ResNet::quantize_int8: this libtorch has no oneDNN quantized engine");
  at::globalContext().setQEngine(at::kONEDNN);
  torch::NoGradGuard no_grad;
  for (const auto& x : calibration_batches) {
    auto y = torch::max_pool2d(stem_conv(x).relu_(), 3, 2, 1);
    stem_range_.observe(y);
    for (auto& stage : stages)
      for (size_t b = 0; b < stage->size(); ++b) y = stage->ptr<BasicBlockImpl>(b)->forward_observed(y);
  }
  for (auto& stage : stages)
    for (size_t b = 0; b < stage->size(); ++b) stage->ptr<BasicBlockImpl>(b)->quantize_int8();
  int8_ = true;
}

std::vector<torch::Tensor> ResNetImpl::forward(const torch::Tensor& x) {
  if (int8_) {
    // The stem (one input channel, 7x7) stays in float: cheap, and a poor fit for 8-bit kernels.
    const auto y = torch::max_pool2d(stem_conv(x).relu_(), 3, 2, 1);
    const auto [scale, zero_point] = uint8_parameters(stem_range_);
    auto q = at::quantize_per_tensor(y.contiguous(at::MemoryFormat::ChannelsLast), scale, zero_point, at::kQUInt8);
    std::vector<torch::Tensor> out;
    for (auto& stage : stages) {
      for (size_t b = 0; b < stage->size(); ++b) q = stage->ptr<BasicBlockImpl>(b)->forward_int8(q);
      out.push_back(q.dequantize());
    }
    return out;
  }
  auto y = folded_ ? stem_conv(x).relu_() : torch::relu(stem_bn(stem_conv(x)));
  y = torch::max_pool2d(y, 3, 2, 1);
  std::vector<torch::Tensor> out;
  for (auto& stage : stages) {
    y = stage->forward(y);
    out.push_back(y);
  }
  return out;
}

}  // namespace spinescan::models
