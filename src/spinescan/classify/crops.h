#pragma once
// Vertebra crops for the classifier: a square window (in mm) around a body's box on a
// canonical sagittal slice, widened by a context margin on every side so the adjacent
// endplates and discs are in view (infection crosses the disc; endplate changes sit at the
// body's edge), resampled to size x size. Optionally the neighbouring slices as extra
// channels (2.5D). Outside the volume: 0 (the normalised background).
#include <cstdint>
#include <vector>

#include "spinescan/core/rng.h"
#include "spinescan/io/volume.h"
#include "spinescan/ops/box.h"

namespace spinescan::classify {

struct CropOptions {
  int size = 64;          // output pixels per side
  double context = 0.3;   // margin on each side, as a fraction of the box's larger side
  int neighbours = 0;     // slices taken on each side: 2 * neighbours + 1 channels
  void validate() const;
  int channels() const { return 2 * neighbours + 1; }
};

// Random perturbation of the box before cropping (training only): centre shift as a
// fraction of the box size, and a relative change of its size. Makes a classifier trained
// on ground-truth boxes work on the detector's slightly different ones.
struct CropJitter {
  double shift_x = 0, shift_y = 0, scale = 0;
};

// Training augmentation of a crop already in ~[0, 1]: gamma, gain, offset and noise, each up
// to its range times `strength`; zero padding stays near zero.
void augment_crop_intensity(std::vector<float>& crop, double strength, Rng& rng);

// [channels * size * size], channel-major; channel `neighbours` is the slice itself and
// neighbour slices beyond the volume repeat the nearest existing slice.
std::vector<float> extract_crop(const Volume<float>& canonical, int slice, const ops::Box& box, const CropOptions& options,
                                const CropJitter& jitter = {});

}  // namespace spinescan::classify
