#include "spinescan/detect/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "spinescan/core/errors.h"

namespace F = torch::nn::functional;

namespace spinescan::detect {

AugmentRanges augment_preset(const std::string& name) {
  AugmentRanges r;
  if (name == "scanner") return r;
  SPINESCAN_CHECK_AS(name == "basic", ConfigError, "--augment-preset: unknown preset '", name, "' (scanner or basic)");
  r.max_rotation_deg = 8;
  r.max_bias = 0.2;
  r.max_noise_sd = 0.04;
  r.blur_probability = r.low_resolution_probability = r.thick_slice_probability = 0;
  r.volume_scaling_probability = r.fov_crop_probability = 0;
  return r;
}

nlohmann::json to_json(const AugmentRanges& r) {
  return {{"max_rotation_deg", r.max_rotation_deg},
          {"max_log_scale", r.max_log_scale},
          {"max_shift", r.max_shift},
          {"max_log_gamma", r.max_log_gamma},
          {"max_gain", r.max_gain},
          {"max_offset", r.max_offset},
          {"max_bias", r.max_bias},
          {"max_noise_sd", r.max_noise_sd},
          {"blur_probability", r.blur_probability},
          {"max_blur_sigma_px", r.max_blur_sigma_px},
          {"low_resolution_probability", r.low_resolution_probability},
          {"max_downsample", r.max_downsample},
          {"thick_slice_probability", r.thick_slice_probability},
          {"max_thick_half_slices", r.max_thick_half_slices},
          {"volume_scaling_probability", r.volume_scaling_probability},
          {"fov_crop_probability", r.fov_crop_probability},
          {"min_fov_fraction", r.min_fov_fraction}};
}

SliceAugmentation draw_augmentation(const AugmentRanges& r, double strength, int size, Rng& rng) {
  SliceAugmentation a;
  if (strength <= 0) return a;
  // Amplitudes scale with the strength; probabilities too, up to certainty.
  const double p = std::min(1.0, strength);
  a.scale = std::exp(rng.uniform(-r.max_log_scale, r.max_log_scale) * strength);
  a.angle_rad = rng.uniform(-r.max_rotation_deg, r.max_rotation_deg) * strength * M_PI / 180;
  a.shift_x = rng.uniform(-r.max_shift, r.max_shift) * strength;
  a.shift_y = rng.uniform(-r.max_shift, r.max_shift) * strength;
  if (r.max_thick_half_slices > 0 && rng.chance(r.thick_slice_probability * p))
    a.thick_half_slices = rng.integer(1, r.max_thick_half_slices);
  if (rng.chance(r.volume_scaling_probability * p)) a.volume_scaling = rng.uniform(0, 1);
  if (rng.chance(r.fov_crop_probability * p)) {
    a.crop = true;
    const double lo = std::clamp(1 - (1 - r.min_fov_fraction) * strength, 0.1, 1.0);
    const int w = std::max(1, static_cast<int>(std::lround(rng.uniform(lo, 1) * size)));
    const int h = std::max(1, static_cast<int>(std::lround(rng.uniform(lo, 1) * size)));
    a.fov_x1 = rng.integer(0, size - w);
    a.fov_y1 = rng.integer(0, size - h);
    a.fov_x2 = a.fov_x1 + w;
    a.fov_y2 = a.fov_y1 + h;
  }
  if (rng.chance(r.low_resolution_probability * p)) {
    a.downsample_x = 1 + rng.uniform(0, r.max_downsample - 1) * strength;
    a.downsample_y = 1 + rng.uniform(0, r.max_downsample - 1) * strength;
  }
  if (rng.chance(r.blur_probability * p)) a.blur_sigma_px = rng.uniform(0, r.max_blur_sigma_px) * strength;
  a.gamma = std::exp(rng.uniform(-r.max_log_gamma, r.max_log_gamma) * strength);
  a.gain = 1 + rng.uniform(-r.max_gain, r.max_gain) * strength;
  a.offset = rng.uniform(-r.max_offset, r.max_offset) * strength;
  a.bias_x = rng.uniform(-r.max_bias, r.max_bias) * strength;
  a.bias_y = rng.uniform(-r.max_bias, r.max_bias) * strength;
  a.bias_xy = rng.uniform(-r.max_bias, r.max_bias) * strength / 2;
  a.noise_sd = rng.uniform(0, r.max_noise_sd) * strength;
  a.noise_seed = rng.next() & 0x7FFFFFFFFFFFULL;
  return a;
}

namespace {

// The slice averaged with up to `half` neighbours on each side from the same case: a thicker
// slice's partial-volume blur across the sagittal direction.
void thick_slice(const std::vector<CanvasSlice>& slices, size_t index, int half, float* out, size_t n) {
  const CanvasSlice& centre = slices[index];
  std::memcpy(out, centre.image.data(), sizeof(float) * n);
  int count = 1;
  for (int d = -half; d <= half; ++d) {
    if (d == 0) continue;
    const auto j = static_cast<int64_t>(index) + d;
    if (j < 0 || j >= static_cast<int64_t>(slices.size())) continue;
    const CanvasSlice& s = slices[static_cast<size_t>(j)];
    if (s.case_name != centre.case_name || s.slice != centre.slice + d || s.image.size() != n) continue;
    for (size_t i = 0; i < n; ++i) out[i] += s.image[i];
    ++count;
  }
  if (count > 1)
    for (size_t i = 0; i < n; ++i) out[i] /= static_cast<float>(count);
}

torch::Tensor gaussian_blur(const torch::Tensor& image, double sigma_px) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * sigma_px)));
  auto kernel = torch::arange(-radius, radius + 1, torch::kFloat);
  kernel = torch::exp(-kernel * kernel / (2 * sigma_px * sigma_px));
  kernel = kernel / kernel.sum();
  const auto k = static_cast<int64_t>(kernel.size(0));
  auto out = F::conv2d(image, kernel.view({1, 1, 1, k}), F::Conv2dFuncOptions().padding({0, radius}));
  return F::conv2d(out, kernel.view({1, 1, k, 1}), F::Conv2dFuncOptions().padding({radius, 0}));
}

}  // namespace

Batch make_batch(const std::vector<CanvasSlice>& slices, const std::vector<size_t>& pick,
                 const std::vector<SliceAugmentation>& augmentations, const CanvasOptions& canvas, int64_t min_area_px) {
  SPINESCAN_CHECK(pick.size() == augmentations.size(), "make_batch: one augmentation per slice");
  const int size = canvas.size;
  const int64_t b = static_cast<int64_t>(pick.size());
  const auto n = static_cast<size_t>(size) * static_cast<size_t>(size);
  auto images = torch::empty({b, canvas.channels(), size, size});
  auto labels = torch::empty({b, 1, size, size});
  for (int64_t i = 0; i < b; ++i) {
    const size_t index = pick[static_cast<size_t>(i)];
    const auto& s = slices[index];
    const auto& a = augmentations[static_cast<size_t>(i)];
    SPINESCAN_CHECK(s.image.size() == n && s.labels.size() == n, "make_batch: slice not on a ", size, " px canvas");
    float* image = images[i].data_ptr<float>();
    for (const size_t channel_index : channel_indices(slices, index, canvas)) {
      thick_slice(slices, channel_index, a.thick_half_slices, image, n);
      if (a.volume_scaling > 0) {
        const auto gain = static_cast<float>(std::pow(slices[channel_index].volume_gain, a.volume_scaling));
        for (size_t p = 0; p < n; ++p) image[p] = std::clamp(image[p] * gain, 0.0f, 1.0f);
      }
      image += n;
    }
    float* label = labels[i].data_ptr<float>();
    for (size_t k = 0; k < n; ++k) label[k] = s.labels[k];
  }

  // Geometry, images and label maps alike. affine_grid maps output to input coordinates:
  // zooming in by `scale` reads a smaller area.
  auto theta = torch::zeros({b, 2, 3});
  bool any_geometry = false;
  for (int64_t i = 0; i < b; ++i) {
    const auto& a = augmentations[static_cast<size_t>(i)];
    theta[i][0][0] = std::cos(a.angle_rad) / a.scale;
    theta[i][0][1] = -std::sin(a.angle_rad) / a.scale;
    theta[i][1][0] = std::sin(a.angle_rad) / a.scale;
    theta[i][1][1] = std::cos(a.angle_rad) / a.scale;
    theta[i][0][2] = a.shift_x;
    theta[i][1][2] = a.shift_y;
    any_geometry |= a.scale != 1 || a.angle_rad != 0 || a.shift_x != 0 || a.shift_y != 0;
  }
  if (any_geometry) {
    const auto grid = F::affine_grid(theta, {b, 1, size, size}, false);
    images = F::grid_sample(images, grid,
                            F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
    labels = F::grid_sample(labels, grid,
                            F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kZeros).align_corners(false));
  }

  const auto coords = torch::linspace(-1, 1, size);
  const auto yy = coords.view({size, 1}).expand({size, size}), xx = coords.view({1, size}).expand({size, size});
  for (int64_t i = 0; i < b; ++i) {
    const auto& a = augmentations[static_cast<size_t>(i)];
    auto im = images[i].unsqueeze(0);  // [1, C, S, S], a view
    if (a.crop) {
      // Outside the kept field there is no signal and no body to find.
      auto mask = torch::zeros({size, size});
      mask.index_put_({torch::indexing::Slice(a.fov_y1, a.fov_y2), torch::indexing::Slice(a.fov_x1, a.fov_x2)}, 1.0);
      images[i].mul_(mask);
      labels[i][0].mul_(mask);
    }
    if (a.downsample_x > 1 || a.downsample_y > 1) {
      const std::vector<int64_t> low = {std::max<int64_t>(8, std::lround(size / a.downsample_y)),
                                        std::max<int64_t>(8, std::lround(size / a.downsample_x))};
      const auto small = F::interpolate(im, F::InterpolateFuncOptions().size(low).mode(torch::kArea));
      images[i].copy_(F::interpolate(small, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{size, size})
                                                .mode(torch::kBilinear)
                                                .align_corners(false))[0]);
    }
    // Each channel blurred on its own: [C, 1, S, S] through a one-channel kernel.
    if (a.blur_sigma_px > 0.05) images[i].copy_(gaussian_blur(images[i].unsqueeze(1), a.blur_sigma_px).squeeze(1));
    auto x = images[i];
    x.clamp_(0, 1).pow_(a.gamma).mul_(a.gain).add_(a.offset);
    if (a.bias_x != 0 || a.bias_y != 0 || a.bias_xy != 0) x.mul_(torch::exp(a.bias_x * xx + a.bias_y * yy + a.bias_xy * xx * yy));
    if (a.noise_sd > 0) {
      // Noise from torch's generator, seeded from the drawn value for repeatability.
      torch::manual_seed(a.noise_seed);
      x.add_(torch::randn_like(x) * a.noise_sd);
    }
  }

  Batch out;
  out.images = images;
  const auto label_bytes = labels.to(torch::kUInt8).contiguous();
  for (int64_t i = 0; i < b; ++i) {
    const auto boxes = boxes_from_label_map(label_bytes[i][0].data_ptr<uint8_t>(), size, min_area_px);
    std::vector<float> flat;
    for (const auto& bx : boxes) flat.insert(flat.end(), {float(bx.x1), float(bx.y1), float(bx.x2), float(bx.y2)});
    out.boxes.push_back(torch::tensor(flat).view({-1, 4}));
    out.labels.push_back(torch::zeros({static_cast<int64_t>(boxes.size())}, torch::kLong));
  }
  return out;
}

}  // namespace spinescan::detect
