#include "spinescan/io/normalize.h"

#include <algorithm>
#include <cmath>

#include "spinescan/core/errors.h"

namespace spinescan {

double percentile(std::vector<float> values, double q) {
  SPINESCAN_CHECK(!values.empty(), "percentile of no values");
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + lo, values.end());
  const double v_lo = values[lo];
  if (hi == lo) return v_lo;
  const double v_hi = *std::min_element(values.begin() + lo + 1, values.end());
  return v_lo + (rank - lo) * (v_hi - v_lo);
}

namespace {

// Scales voxels [begin, end) of `in` into `out` by the percentiles of that range.
void scale_range(const float* in, float* out, int64_t n, const NormalizeOptions& o, bool allow_constant) {
  const auto [min_it, max_it] = std::minmax_element(in, in + n);
  std::vector<float> sample;
  sample.reserve(n);
  for (int64_t i = 0; i < n; ++i)
    if (!o.ignore_background || in[i] > *min_it) sample.push_back(in[i]);
  if (sample.empty()) sample.assign(in, in + n);
  const double lo = percentile(sample, o.low_percentile);
  double hi = percentile(sample, o.high_percentile);
  if (hi <= lo) hi = *max_it;  // a mostly constant range: fall back to the full range
  if (hi <= lo) {
    SPINESCAN_CHECK(allow_constant, "constant volume (every voxel is ", lo, "): nothing to normalise");
    std::fill(out, out + n, 0.0f);
    return;
  }
  const double scale = 1.0 / (hi - lo);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(std::clamp((in[i] - lo) * scale, 0.0, 1.0));
}

}  // namespace

Volume<float> normalize_intensity(const Volume<float>& in, const NormalizeOptions& o) {
  SPINESCAN_CHECK(in.num_voxels() > 0 && static_cast<int64_t>(in.voxels.size()) == in.num_voxels(),
                  "empty volume: nothing to normalise");
  SPINESCAN_CHECK_AS(o.low_percentile >= 0 && o.high_percentile <= 100 && o.low_percentile < o.high_percentile,
                     ConfigError, "percentiles must satisfy 0 <= low < high <= 100, got ", o.low_percentile, ", ",
                     o.high_percentile);
  for (float v : in.voxels) SPINESCAN_CHECK(std::isfinite(v), "volume holds non-finite values (NaN or Inf)");
  Volume<float> out = in.like<float>();
  if (!o.per_slice) {
    scale_range(in.voxels.data(), out.voxels.data(), in.num_voxels(), o, false);
    return out;
  }
  // Whole volume constant is an error; a single blank slice (outside the body) is not.
  const auto [mn, mx] = std::minmax_element(in.voxels.begin(), in.voxels.end());
  SPINESCAN_CHECK(*mx > *mn, "constant volume (every voxel is ", *mn, "): nothing to normalise");
  const int64_t per_slice = in.size[0] * in.size[1];
  for (int64_t k = 0; k < in.size[2]; ++k)
    scale_range(in.voxels.data() + k * per_slice, out.voxels.data() + k * per_slice, per_slice, o, true);
  return out;
}

}  // namespace spinescan
