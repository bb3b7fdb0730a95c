#pragma once
// Feature pyramid (Lin et al. 2017) over ResNet stages C3..C5, returning P<min_level>..P<max_level>.
// Levels 6 and 7 (RetinaNet's extra levels) are stride-2 convolutions on P5.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <vector>

#include "spinescan/models/int8.h"

namespace spinescan::models {

struct FpnOptions {
  std::vector<int> in_channels{128, 256, 512};  // C3, C4, C5
  int out_channels = 128;
  // Vertebral bodies are 15-45 mm: at 1.25 mm per pixel P3 (stride 8) and P4 (stride 16)
  // cover them; P5-P7 would only add anchors larger than any body.
  int min_level = 3;
  int max_level = 4;
  void validate() const;
};

class FpnImpl : public torch::nn::Module {
 public:
  explicit FpnImpl(const FpnOptions& options = {});
  // {C2, C3, C4, C5} (ResNet output) -> {P_min .. P_max}
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features);
  const FpnOptions& options() const { return options_; }
  // 8 bits (models/int8.h; P3..P5 only): forward() records the laterals', the top-down sums'
  // and the outputs' ranges under an Int8RangeRecording; quantize_int8 makes the 8-bit
  // convolutions from them; forward_int8 goes from 8-bit C2..C5 to 8-bit levels.
  void quantize_int8();
  std::vector<torch::Tensor> forward_int8(const std::vector<torch::Tensor>& quantized_features) const;
  void int8_ranges(std::vector<ActivationRange*>& out);

 private:
  FpnOptions options_;
  std::array<ActivationRange, 3> lateral_range_, inner_range_, output_range_;
  size_t int8_outputs() const;  // P3..min(P_max, P5)
  std::vector<Int8Conv> int8_lateral_, int8_output_;
  torch::nn::ModuleList lateral, output;
  torch::nn::Conv2d p6{nullptr}, p7{nullptr};
};
TORCH_MODULE(Fpn);

}  // namespace spinescan::models
