#pragma once
// 8-bit integer inference on oneDNN's quantized engine (a probe: docs/benchmarks.md, "The detector
// in 8-bit integers"). Activations are unsigned 8-bit with ranges recorded by a float calibration
// pass; weights signed 8-bit per output channel. The operators are registered with the dispatcher
// by libtorch_cpu; their packed-weight type is not in the installed headers, so they are called boxed.
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <ATen/core/ivalue.h>

#include <utility>

namespace spinescan::models {

// Smallest and largest value seen at one point of the network while calibrating.
struct ActivationRange {
  float min = 0, max = 0;
  bool seen = false;
  void observe(const torch::Tensor& t);
  // observe(t) while an Int8RangeRecording is alive on this thread, else nothing: the float
  // forward passes call it at each point an 8-bit forward will quantize.
  void record(const torch::Tensor& t);
  // Scale and zero point of an unsigned 8-bit tensor covering the range (and 0).
  std::pair<double, int64_t> uint8_parameters() const;
  torch::Tensor quantize(const torch::Tensor& x) const;  // channels-last, unsigned 8-bit
};

// While alive, the float forwards on this thread record their ranges (ActivationRange::record).
class Int8RangeRecording {
 public:
  Int8RangeRecording();
  ~Int8RangeRecording();
  Int8RangeRecording(const Int8RangeRecording&) = delete;
  Int8RangeRecording& operator=(const Int8RangeRecording&) = delete;
};

// A convolution in 8 bits: its packed weights and bias, and its output's scale and zero point.
struct Int8Conv {
  c10::IValue packed;
  double output_scale = 1;
  int64_t output_zero_point = 0;
  Int8Conv() = default;
  Int8Conv(const torch::nn::Conv2dImpl& conv, const ActivationRange& output_range);
  // relu: the ReLU after it fused in (its output range then starts at 0).
  torch::Tensor forward(const torch::Tensor& quantized_input, bool relu) const;
};

// a + b (then ReLU) of two unsigned 8-bit tensors, into the given output range.
torch::Tensor int8_add(const torch::Tensor& a, const torch::Tensor& b, const ActivationRange& output, bool relu);

// Group norm of an unsigned 8-bit tensor into the output range; a range that starts at 0 also
// applies the ReLU after it (negative values saturate to the zero point).
torch::Tensor int8_group_norm(const torch::Tensor& q, int64_t groups, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps, const ActivationRange& output);

// Selects oneDNN's quantized engine; throws where this libtorch has none.
void use_onednn_quantized_engine();

}  // namespace spinescan::models
