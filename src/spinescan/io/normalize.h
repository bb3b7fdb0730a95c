#pragma once
// Intensity normalisation. MR intensities have no absolute scale: 1.5 T and 3 T scanners,
// coils and 8-bit exports differ by a gain and an offset. Robust percentile scaling maps the
// volume's low percentile to 0 and its high percentile to 1 and clips the rest, which makes
// the result invariant to any positive gain and any offset and insensitive to a few extreme
// voxels (fat saturation failures, flow artefacts).
#include <cstdint>

#include "spinescan/io/volume.h"

namespace spinescan {

struct NormalizeOptions {
  double low_percentile = 0.5;    // maps to 0
  double high_percentile = 99.5;  // maps to 1
  // Per-slice scaling (along canonical axis 2) instead of per volume: for sources whose
  // slices were each rescaled on their own (the SPIDER PNG export). Default: per volume.
  bool per_slice = false;
  // Voxels at or below the volume's minimum (zero padding, air outside the field) are left
  // out of the percentiles, so a large empty margin does not pull the low percentile down.
  bool ignore_background = true;
};

// Returns a volume of the same geometry with values in [0, 1]. Throws DataError for an empty
// or constant volume (nothing to scale) and for non-finite voxels.
Volume<float> normalize_intensity(const Volume<float>& in, const NormalizeOptions& options = {});

// The value at percentile q (0..100) of the values, linear interpolation between ranks.
double percentile(std::vector<float> values, double q);

}  // namespace spinescan
