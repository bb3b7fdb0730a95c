#include "spinescan/models/int8.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace spinescan::models {

namespace {
thread_local bool t_recording = false;

torch::Tensor call_quantized(const char* name, const char* overload, torch::jit::Stack stack) {
  c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).callBoxed(&stack);
  return stack.at(0).toTensor();
}
}  // namespace

void ActivationRange::observe(const torch::Tensor& t) {
  const float lo = t.min().item<float>(), hi = t.max().item<float>();
  min = seen ? std::min(min, lo) : lo;
  max = seen ? std::max(max, hi) : hi;
  seen = true;
}

void ActivationRange::record(const torch::Tensor& t) {
  if (t_recording) observe(t);
}

Int8RangeRecording::Int8RangeRecording() {
  TORCH_CHECK(!t_recording, "int8: a range recording is already running on this thread");
  t_recording = true;
}

Int8RangeRecording::~Int8RangeRecording() { t_recording = false; }

std::pair<double, int64_t> ActivationRange::uint8_parameters() const {
  TORCH_CHECK(seen, "int8: a point of the network saw no calibration data");
  const double lo = std::min(0.0f, min), hi = std::max(0.0f, max);
  const double scale = std::max(1e-8, (hi - lo) / 255);
  return {scale, std::clamp<int64_t>(std::llround(-lo / scale), 0, 255)};
}

torch::Tensor ActivationRange::quantize(const torch::Tensor& x) const {
  const auto [scale, zero_point] = uint8_parameters();
  return at::quantize_per_tensor(x.contiguous(at::MemoryFormat::ChannelsLast), scale, zero_point, at::kQUInt8);
}

Int8Conv::Int8Conv(const torch::nn::Conv2dImpl& conv, const ActivationRange& output_range) {
  torch::NoGradGuard no_grad;
  const auto weight = conv.weight.detach().to(torch::kFloat).contiguous();
  // Symmetric per output channel: scale = max |w| / 127. One pass over the float weights into
  // int8 ones, which then become the per-channel tensor they are: quantize_per_channel rounds
  // one weight at a time, and the tensor-op spelling (divide, round, clamp, convert) took 38-89
  // ms of a cold start for the detector's 12 M weights, this loop 28 (docs/benchmarks.md).
  const int64_t channels = weight.size(0), per_channel = weight.numel() / channels;
  auto scales = torch::empty({channels}, torch::kDouble);
  auto integers = torch::empty(weight.sizes(), torch::kChar);
  const float* w = weight.data_ptr<float>();
  int8_t* q = integers.data_ptr<int8_t>();
  double* scale_of = scales.data_ptr<double>();
  for (int64_t c = 0; c < channels; ++c) {
    const float* wc = w + c * per_channel;
    float max_abs = 0;
    for (int64_t i = 0; i < per_channel; ++i) max_abs = std::max(max_abs, std::abs(wc[i]));
    const float scale = std::max(max_abs, 1e-12f) / 127;
    scale_of[c] = scale;
    const float inverse = 1 / scale;
    int8_t* qc = q + c * per_channel;
    // |w * inverse| <= 127: adding and subtracting 1.5 * 2^23 rounds it to the nearest integer
    // (half to even, as quantize_per_channel) in plain float arithmetic the compiler vectorises;
    // nearbyint does not vectorise and took most of the 12 M weights' time.
    constexpr float kRound = 12582912.0f;
    for (int64_t i = 0; i < per_channel; ++i) qc[i] = static_cast<int8_t>((wc[i] * inverse + kRound) - kRound);
  }
  const auto quantized_weight =
      at::_make_per_channel_quantized_tensor(integers, scales, torch::zeros({channels}, torch::kLong), 0);
  c10::optional<at::Tensor> bias;
  if (conv.bias.defined()) bias = conv.bias.detach().to(torch::kFloat).contiguous();
  const auto& o = conv.options;
  const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  torch::jit::Stack stack{quantized_weight, bias, std::vector<int64_t>(o.stride()->begin(), o.stride()->end()),
                          std::vector<int64_t>(padding->begin(), padding->end()),
                          std::vector<int64_t>(o.dilation()->begin(), o.dilation()->end()), o.groups()};
  c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_prepack", "").callBoxed(&stack);
  packed = stack.at(0);
  std::tie(output_scale, output_zero_point) = output_range.uint8_parameters();
}

torch::Tensor Int8Conv::forward(const torch::Tensor& quantized_input, bool relu) const {
  return call_quantized(relu ? "quantized::conv2d_relu" : "quantized::conv2d", "new",
                        {quantized_input, packed, output_scale, output_zero_point});
}

torch::Tensor int8_add(const torch::Tensor& a, const torch::Tensor& b, const ActivationRange& output, bool relu) {
  const auto [scale, zero_point] = output.uint8_parameters();
  return call_quantized(relu ? "quantized::add_relu" : "quantized::add", "", {a, b, scale, zero_point});
}

torch::Tensor int8_group_norm(const torch::Tensor& q, int64_t groups, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps, const ActivationRange& output) {
  const auto [scale, zero_point] = output.uint8_parameters();
  return call_quantized("quantized::group_norm", "", {q, groups, weight, bias, eps, scale, zero_point});
}

void use_onednn_quantized_engine() {
  const auto engines = at::globalContext().supportedQEngines();
  TORCH_CHECK(std::find(engines.begin(), engines.end(), at::kONEDNN) != engines.end(),
              "int8: this libtorch has no oneDNN quantized engine");
  at::globalContext().setQEngine(at::kONEDNN);
}

}  // namespace spinescan::models
