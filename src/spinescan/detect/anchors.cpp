#include "spinescan/detect/anchors.h"

#include <torch/torch.h>

#include <cmath>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

void AnchorOptions::validate() const {
  SPINESCAN_CHECK_AS(!strides.empty() && strides.size() == sizes.size(), ConfigError,
                     "anchors: one size per stride needed (", strides.size(), " strides, ", sizes.size(), " sizes)");
  SPINESCAN_CHECK_AS(!scales.empty() && !aspect_ratios.empty(), ConfigError, "anchors: scales and ratios needed");
  for (double r : aspect_ratios) SPINESCAN_CHECK_AS(r > 0, ConfigError, "anchors: aspect ratio must be > 0");
  for (double s : scales) SPINESCAN_CHECK_AS(s > 0, ConfigError, "anchors: scale must be > 0");
}

torch::Tensor make_anchors(const AnchorOptions& o, const std::vector<std::pair<int64_t, int64_t>>& feature_sizes) {
  o.validate();
  SPINESCAN_CHECK_AS(feature_sizes.size() == o.strides.size(), ModelError, "anchors: ", feature_sizes.size(),
                     " feature maps for ", o.strides.size(), " anchor levels");
  std::vector<float> out;
  for (size_t level = 0; level < feature_sizes.size(); ++level) {
    const auto [h, w] = feature_sizes[level];
    const double stride = o.strides[level];
    std::vector<std::pair<double, double>> half_sizes;  // (half width, half height)
    for (double scale : o.scales)
      for (double ratio : o.aspect_ratios) {
        const double s = o.sizes[level] * scale;
        half_sizes.push_back({s / std::sqrt(ratio) / 2, s * std::sqrt(ratio) / 2});
      }
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double cx = (x + 0.5) * stride, cy = (y + 0.5) * stride;
        for (const auto& [hw, hh] : half_sizes)
          for (double v : {cx - hw, cy - hh, cx + hw, cy + hh}) out.push_back(static_cast<float>(v));
      }
  }
  return torch::tensor(out).view({-1, 4});
}

}  // namespace spinescan::detect
