#pragma once
// Anchor boxes per pyramid level. Anchors are centred on each feature cell,
// ((x + 0.5) * stride, (y + 0.5) * stride), with pixel-edge box coordinates; a size s and an
// aspect ratio r = height / width give width s / sqrt(r) and height s * sqrt(r) (area s^2).
// Order: level, y, x, then scale-major (scale, ratio), matching the head's output order.
#include <torch/types.h>

#include <utility>
#include <vector>

namespace spinescan::detect {

struct AnchorOptions {
  // One base size per pyramid level, with that level's stride. Defaults for P3/P4 at 1.25 mm
  // per pixel: vertebral-body boxes on sagittal slices (spinescan dataset stats on the real
  // data) are 18-42 mm wide (14-34 px) and 11-38 mm high (9-30 px), p5-p95.
  std::vector<int> strides{8, 16};
  std::vector<double> sizes{16, 32};
  std::vector<double> scales{1.0, 1.2599210498948732, 1.5874010519681994};  // 2^0, 2^(1/3), 2^(2/3)
  std::vector<double> aspect_ratios{0.6, 0.85, 1.2};                       // height / width
  int anchors_per_location() const { return static_cast<int>(scales.size() * aspect_ratios.size()); }
  void validate() const;
};

// [sum over levels of H_l * W_l * A, 4] for the given feature-map sizes (H_l, W_l).
torch::Tensor make_anchors(const AnchorOptions& options, const std::vector<std::pair<int64_t, int64_t>>& feature_sizes);

}  // namespace spinescan::detect
