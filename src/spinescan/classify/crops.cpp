#include "spinescan/classify/crops.h"

#include <algorithm>
#include <cmath>

#include "spinescan/core/errors.h"

namespace spinescan::classify {

void CropOptions::validate() const {
  SPINESCAN_CHECK_AS(size >= 8 && size <= 1024, ConfigError, "crop size must be 8..1024, got ", size);
  SPINESCAN_CHECK_AS(context >= 0 && context <= 2, ConfigError, "crop context must be 0..2, got ", context);
  SPINESCAN_CHECK_AS(neighbours >= 0 && neighbours <= 8, ConfigError, "crop neighbours must be 0..8, got ", neighbours);
}

void augment_crop_intensity(std::vector<float>& crop, double strength, Rng& rng) {
  const double gamma = std::exp(rng.uniform(-0.3, 0.3) * strength), gain = 1 + rng.uniform(-0.15, 0.15) * strength,
               offset = rng.uniform(-0.05, 0.05) * strength, noise = rng.uniform(0, 0.03) * strength;
  for (auto& v : crop) {
    const double x = std::pow(std::clamp(static_cast<double>(v), 0.0, 1.5), gamma) * gain + offset + noise * rng.normal();
    v = static_cast<float>(x);
  }
}

std::vector<float> extract_crop(const Volume<float>& v, int slice, const ops::Box& box, const CropOptions& o,
                                const CropJitter& jitter) {
  o.validate();
  const int64_t cols = v.size[0], rows = v.size[1], slices = v.size[2];
  SPINESCAN_CHECK(slice >= 0 && slice < slices, "crop slice ", slice, " outside the volume's ", slices, " slices");
  SPINESCAN_CHECK(box.width() > 0 && box.height() > 0, "crop box is empty");
  const double col_mm = v.spacing_mm[0], row_mm = v.spacing_mm[1];
  // Work in mm so the crop is square on the patient whatever the pixel spacing.
  const double w_mm = box.width() * col_mm, h_mm = box.height() * row_mm;
  const double cx_mm = (box.centre_x() + jitter.shift_x * box.width()) * col_mm;
  const double cy_mm = (box.centre_y() + jitter.shift_y * box.height()) * row_mm;
  const double side_mm = std::max(w_mm, h_mm) * (1 + 2 * o.context) * (1 + jitter.scale);
  const double step_mm = side_mm / o.size;
  std::vector<float> out(static_cast<size_t>(o.channels()) * o.size * o.size, 0.0f);
  for (int c = 0; c < o.channels(); ++c) {
    const int64_t k = std::clamp<int64_t>(slice + c - o.neighbours, 0, slices - 1);
    const float* plane = v.voxels.data() + k * cols * rows;
    float* dst = out.data() + static_cast<size_t>(c) * o.size * o.size;
    for (int y = 0; y < o.size; ++y) {
      // Source position in pixel-centre units (pixel i's centre is at i + 0.5 edges).
      const double sy = (cy_mm - side_mm / 2 + (y + 0.5) * step_mm) / row_mm - 0.5;
      for (int x = 0; x < o.size; ++x) {
        const double sx = (cx_mm - side_mm / 2 + (x + 0.5) * step_mm) / col_mm - 0.5;
        if (sx < -0.5 || sy < -0.5 || sx > cols - 0.5 || sy > rows - 0.5) continue;
        // Bilinear, clamped at the border pixels.
        const double fx = std::clamp(sx, 0.0, static_cast<double>(cols - 1)), fy = std::clamp(sy, 0.0, static_cast<double>(rows - 1));
        const auto x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
        const int64_t x1 = std::min(x0 + 1, cols - 1), y1 = std::min(y0 + 1, rows - 1);
        const double ax = fx - x0, ay = fy - y0;
        const double top = plane[y0 * cols + x0] * (1 - ax) + plane[y0 * cols + x1] * ax;
        const double bottom = plane[y1 * cols + x0] * (1 - ax) + plane[y1 * cols + x1] * ax;
        dst[static_cast<size_t>(y) * o.size + x] = static_cast<float>(top * (1 - ay) + bottom * ay);
      }
    }
  }
  return out;
}

}  // namespace spinescan::classify
