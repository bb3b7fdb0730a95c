#include "spinescan/detect/canvas.h"

#include <algorithm>
#include <cmath>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

void CanvasOptions::validate() const {
  SPINESCAN_CHECK_AS(size >= 64 && size % 32 == 0, ConfigError, "canvas size must be a multiple of 32 and >= 64, got ", size);
  SPINESCAN_CHECK_AS(pixel_mm > 0.1 && pixel_mm < 10, ConfigError, "canvas pixel must be 0.1..10 mm, got ", pixel_mm);
  SPINESCAN_CHECK_AS(context_mm >= 0 && context_mm <= 20, ConfigError, "sagittal context must be 0..20 mm, got ", context_mm);
}

std::vector<int> CanvasOptions::channel_slices(int slice, int num_slices, double slice_mm) const {
  if (context_mm <= 0) return {slice};
  const int offset = std::max(1, static_cast<int>(std::lround(context_mm / std::max(slice_mm, 1e-3))));
  const int last = std::max(0, num_slices - 1);
  return {std::clamp(slice - offset, 0, last), slice, std::clamp(slice + offset, 0, last)};
}

CanvasGeometry canvas_geometry(int64_t cols, int64_t rows, double col_mm, double row_mm, const CanvasOptions& o) {
  o.validate();
  CanvasGeometry g;
  g.pixel_mm = std::max({o.pixel_mm, cols * col_mm / o.size, rows * row_mm / o.size});
  g.scale_x = col_mm / g.pixel_mm;
  g.scale_y = row_mm / g.pixel_mm;
  g.offset_x = (o.size - cols * g.scale_x) / 2;
  g.offset_y = (o.size - rows * g.scale_y) / 2;
  return g;
}

namespace {

// Weights from source samples to one output sample, for one axis.
struct Taps {
  int64_t first = 0;
  std::vector<float> weights;
};

// Output pixel i (centre i + 0.5 on the canvas) reads source positions around
// to_source(i + 0.5) - 0.5 in source-pixel-centre units, with a tent of half-width `support`.
std::vector<Taps> make_taps(int out_size, int64_t in_size, double scale, double offset) {
  const double support = std::max(1.0, 1.0 / scale);  // scale < 1: downsampling
  std::vector<Taps> taps(static_cast<size_t>(out_size));
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5 - offset) / scale - 0.5;
    Taps& t = taps[static_cast<size_t>(i)];
    if (center < -0.5 || center > in_size - 0.5) continue;  // outside the slice
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(center - support)));
    const int64_t hi = std::min<int64_t>(in_size - 1, static_cast<int64_t>(std::floor(center + support)));
    t.first = lo;
    double total = 0;
    for (int64_t s = lo; s <= hi; ++s) {
      const double w = std::max(0.0, 1.0 - std::abs(s - center) / support);
      t.weights.push_back(static_cast<float>(w));
      total += w;
    }
    if (total <= 0) {
      t.weights.clear();
      continue;
    }
    for (float& w : t.weights) w = static_cast<float>(w / total);
  }
  return taps;
}

}  // namespace

std::vector<float> resample_to_canvas(const float* slice, int64_t cols, int64_t rows, const CanvasGeometry& g, int size) {
  const auto tx = make_taps(size, cols, g.scale_x, g.offset_x);
  const auto ty = make_taps(size, rows, g.scale_y, g.offset_y);
  // Horizontal pass: rows x size, then vertical: size x size.
  std::vector<float> horizontal(static_cast<size_t>(rows) * size, 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int x = 0; x < size; ++x) {
      const Taps& t = tx[static_cast<size_t>(x)];
      float v = 0;
      for (size_t k = 0; k < t.weights.size(); ++k) v += t.weights[k] * slice[r * cols + t.first + static_cast<int64_t>(k)];
      horizontal[static_cast<size_t>(r) * size + x] = v;
    }
  std::vector<float> out(static_cast<size_t>(size) * size, 0.0f);
  for (int y = 0; y < size; ++y) {
    const Taps& t = ty[static_cast<size_t>(y)];
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const float w = t.weights[k];
      const float* src = &horizontal[static_cast<size_t>(t.first + static_cast<int64_t>(k)) * size];
      float* dst = &out[static_cast<size_t>(y) * size];
      for (int x = 0; x < size; ++x) dst[x] += w * src[x];
    }
  }
  return out;
}

std::vector<uint8_t> labels_to_canvas(const uint16_t* slice, int64_t cols, int64_t rows, const CanvasGeometry& g, int size) {
  std::vector<uint8_t> out(static_cast<size_t>(size) * size, 0);
  for (int y = 0; y < size; ++y) {
    const auto sy = static_cast<int64_t>(std::floor(g.to_source_y(y + 0.5)));
    if (sy < 0 || sy >= rows) continue;
    for (int x = 0; x < size; ++x) {
      const auto sx = static_cast<int64_t>(std::floor(g.to_source_x(x + 0.5)));
      if (sx < 0 || sx >= cols) continue;
      out[static_cast<size_t>(y) * size + x] = static_cast<uint8_t>(std::min<uint16_t>(255, slice[sy * cols + sx]));
    }
  }
  return out;
}

}  // namespace spinescan::detect
