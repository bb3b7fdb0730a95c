#pragma once
// Detector augmentation that imitates other scanners and protocols, so that a detector trained
// on one site's studies still finds bodies on another's: contrast and gamma curves, smooth bias
// fields, noise, blur, lower in-plane resolution, thicker slices (neighbouring slices of the
// same study averaged), per-volume instead of per-slice intensity scaling, field-of-view crops,
// rotation and scale. Boxes are never transformed: they are re-read from the body label map
// after it went through the same geometry, so they stay the exact extents of what is visible.
//
// Drawing (random) and applying (deterministic) are separate: a test can apply a known
// transform and check the boxes, and a resumed run redraws the same values from (seed, epoch).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spinescan/core/rng.h"
#include "spinescan/detect/slice_data.h"

namespace spinescan::detect {

// Ranges at strength 1 (`train detector --augment` scales amplitudes and probabilities).
struct AugmentRanges {
  double max_rotation_deg = 15;
  double max_log_scale = 0.18;     // zoom exp(+-0.18): 0.84-1.20
  double max_shift = 0.1;          // of the half canvas
  double max_log_gamma = 0.35;
  double max_gain = 0.15, max_offset = 0.06;
  double max_bias = 0.3;           // log amplitude of the smooth bias field across the canvas
  double max_noise_sd = 0.05;      // in normalised intensity
  double blur_probability = 0.25, max_blur_sigma_px = 1.5;
  double low_resolution_probability = 0.25, max_downsample = 2.5;  // per axis
  double thick_slice_probability = 0.25;
  int max_thick_half_slices = 2;   // average slices k-h..k+h: up to 5 slices
  double volume_scaling_probability = 0.3;
  double fov_crop_probability = 0.2, min_fov_fraction = 0.6;  // of the canvas, per axis
};

// "scanner" (the defaults above) or "basic" (what spinescan used before the scanner ranges:
// rotation to 8 degrees, a weaker bias field, noise to 0.04, none of blur, lower resolution,
// thick slices, per-volume scaling or crops); ConfigError otherwise.
AugmentRanges augment_preset(const std::string& name);

// For the run's config.json: what "--augment 1" meant when the run was trained.
nlohmann::json to_json(const AugmentRanges& ranges);

// One slice's transform. Defaults are the identity.
struct SliceAugmentation {
  int thick_half_slices = 0;      // 0 = the slice alone
  double volume_scaling = 0;      // 0 = per-slice normalisation (as read), 1 = per volume
  double scale = 1, angle_rad = 0, shift_x = 0, shift_y = 0;  // shift in [-1, 1] canvas units
  bool crop = false;              // keep only canvas pixels [fov_x1, fov_x2) x [fov_y1, fov_y2)
  int fov_x1 = 0, fov_y1 = 0, fov_x2 = 0, fov_y2 = 0;
  double downsample_x = 1, downsample_y = 1;
  double blur_sigma_px = 0;
  double gamma = 1, gain = 1, offset = 0;
  double bias_x = 0, bias_y = 0, bias_xy = 0;
  double noise_sd = 0;
  uint64_t noise_seed = 0;
};

SliceAugmentation draw_augmentation(const AugmentRanges& ranges, double strength, int size, Rng& rng);

struct Batch {
  torch::Tensor images;  // [B, C, S, S], C = canvas.channels()
  std::vector<torch::Tensor> boxes, labels;  // per image: [N, 4] canvas px (x1, y1, x2, y2), [N] class 0
};

// The slices `pick` of `slices`, each transformed by its augmentation (same length as pick).
// Thick slices average the neighbours of the same case found in `slices` (as loaded by
// load_canvas_slices: a case's slices consecutive and in order); missing neighbours are skipped.
// With sagittal context each channel is its own slice (detector_input) made thick the same way,
// and every transform applies to all channels alike; targets are the centre slice's bodies.
// Bodies under min_area_px after the transform are not targets.
Batch make_batch(const std::vector<CanvasSlice>& slices, const std::vector<size_t>& pick,
                 const std::vector<SliceAugmentation>& augmentations, const CanvasOptions& canvas, int64_t min_area_px);

}  // namespace spinescan::detect
