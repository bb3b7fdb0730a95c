#include "spinescan/models/fpn.h"

#include <torch/torch.h>

#include "spinescan/core/errors.h"
#include "spinescan/models/initial_weights.h"

namespace spinescan::models {

namespace nn = torch::nn;

void FpnOptions::validate() const {
  SPINESCAN_CHECK_AS(in_channels.size() == 3, ConfigError, "FPN takes C3, C4, C5 (3 input widths)");
  SPINESCAN_CHECK_AS(min_level >= 3 && max_level <= 7 && min_level <= max_level, ConfigError,
                     "FPN levels must satisfy 3 <= min <= max <= 7, got P", min_level, "..P", max_level);
}

FpnImpl::FpnImpl(const FpnOptions& o) : options_(o) {
  o.validate();
  lateral = register_module("lateral", nn::ModuleList());
  output = register_module("output", nn::ModuleList());
  // Output convolutions only for the levels returned (P6/P7 are computed from P5's).
  const int num_outputs = o.max_level >= 5 ? 3 : o.max_level - 2;
  for (size_t i = 0; i < o.in_channels.size(); ++i) {
    lateral->push_back(nn::Conv2d(nn::Conv2dOptions(o.in_channels[i], o.out_channels, 1)));
    if (static_cast<int>(i) < num_outputs)
      output->push_back(nn::Conv2d(nn::Conv2dOptions(o.out_channels, o.out_channels, 3).padding(1)));
  }
  if (o.max_level >= 6)
    p6 = register_module("p6", nn::Conv2d(nn::Conv2dOptions(o.out_channels, o.out_channels, 3).stride(2).padding(1)));
  if (o.max_level >= 7)
    p7 = register_module("p7", nn::Conv2d(nn::Conv2dOptions(o.out_channels, o.out_channels, 3).stride(2).padding(1)));
  if (!initial_weights_wanted()) return;
  for (auto& m : modules(false))
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_uniform_(c->weight, 1.0);
      nn::init::zeros_(c->bias);
    }
}

std::vector<torch::Tensor> FpnImpl::forward(const std::vector<torch::Tensor>& f) {
  SPINESCAN_CHECK_AS(f.size() == 4, ModelError, "FPN expects C2..C5, got ", f.size(), " maps");
  // Top-down: P5 from C5, then each finer level adds the upsampled coarser one.
  std::array<torch::Tensor, 3> inner;
  inner[2] = lateral[2]->as<nn::Conv2d>()->forward(f[3]);
  lateral_range_[2].record(inner[2]);
  for (int i = 1; i >= 0; --i) {
    const auto lat = lateral[i]->as<nn::Conv2d>()->forward(f[i + 1]);
    lateral_range_[static_cast<size_t>(i)].record(lat);
    inner[i] = lat + torch::nn::functional::interpolate(
                         inner[i + 1], torch::nn::functional::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{lat.size(2), lat.size(3)})
                                           .mode(torch::kNearest));
    inner_range_[static_cast<size_t>(i)].record(inner[i]);
  }
  std::vector<torch::Tensor> levels;  // P3, P4, P5 (+ P6, P7)
  for (int i = 0; i < 3; ++i) {
    if (3 + i > options_.max_level && options_.max_level < 6) break;
    levels.push_back(output[i]->as<nn::Conv2d>()->forward(inner[i]));
    output_range_[static_cast<size_t>(i)].record(levels.back());
  }
  if (options_.max_level >= 6) levels.push_back(p6(levels[2]));
  if (options_.max_level >= 7) levels.push_back(p7(torch::relu(levels[3])));
  return std::vector<torch::Tensor>(levels.begin() + (options_.min_level - 3), levels.end());
}

size_t FpnImpl::int8_outputs() const { return static_cast<size_t>(std::min(options_.max_level, 5) - 2); }

void FpnImpl::quantize_int8() {
  SPINESCAN_CHECK_AS(options_.max_level <= 5, ModelError, "FPN int8: P3..P5 only (this one goes to P", options_.max_level, ")");
  int8_lateral_.clear();
  int8_output_.clear();
  for (size_t i = 0; i < 3; ++i) int8_lateral_.emplace_back(*lateral[i]->as<nn::Conv2d>(), lateral_range_[i]);
  for (size_t i = 0; i < int8_outputs(); ++i) int8_output_.emplace_back(*output[i]->as<nn::Conv2d>(), output_range_[i]);
}

void FpnImpl::int8_ranges(std::vector<ActivationRange*>& out) {
  for (auto& r : lateral_range_) out.push_back(&r);
  out.insert(out.end(), {&inner_range_[0], &inner_range_[1]});  // P5's is its lateral's
  for (size_t i = 0; i < int8_outputs(); ++i) out.push_back(&output_range_[i]);
}

std::vector<torch::Tensor> FpnImpl::forward_int8(const std::vector<torch::Tensor>& q) const {
  SPINESCAN_CHECK_AS(q.size() == 4 && int8_lateral_.size() == 3, ModelError, "FPN int8: not quantized");
  std::array<torch::Tensor, 3> inner;
  inner[2] = int8_lateral_[2].forward(q[3], false);
  for (int i = 1; i >= 0; --i) {
    const auto lat = int8_lateral_[static_cast<size_t>(i)].forward(q[static_cast<size_t>(i) + 1], false);
    const auto up = at::upsample_nearest2d(inner[static_cast<size_t>(i) + 1], {lat.size(2), lat.size(3)});
    inner[static_cast<size_t>(i)] = int8_add(lat, up, inner_range_[static_cast<size_t>(i)], false);
  }
  std::vector<torch::Tensor> levels;
  for (size_t i = 0; i < int8_output_.size(); ++i) levels.push_back(int8_output_[i].forward(inner[i], false));
  return std::vector<torch::Tensor>(levels.begin() + (options_.min_level - 3), levels.end());
}

}  // namespace spinescan::models
