#pragma once
// The detector's working canvas: every canonical sagittal slice is resampled to square
// pixels of `pixel_mm` (1.25 mm by default; letterboxed at a coarser pixel when the field is
// larger than the canvas) and centred on a size x size canvas. At 1.25 mm a vertebral body
// spans 14-34 px, enough for its edges, and a 256 px canvas holds a 320 mm field (SPIDER
// 240 x 300 mm fits at 1.25 mm; Chu et al.'s 381 mm fields are letterboxed at 1.49 mm).
// This is ~6x fewer pixels than a 512 x 512 slice: the first way the detector does less work.
#include <cstdint>
#include <vector>

namespace spinescan::detect {

struct CanvasOptions {
  int size = 256;
  double pixel_mm = 1.25;
  // Sagittal context. 0: the detector reads the slice alone (one input channel). Above 0:
  // three channels, the slices about this many mm to each side and the slice itself (2.5D),
  // so that a small section through the side of a body is read beside the larger section
  // next to it. Boxes are always the centre slice's.
  double context_mm = 0;
  void validate() const;
  int channels() const { return context_mm > 0 ? 3 : 1; }
  // Canonical slice read by each input channel for `slice` of a volume of `num_slices` slices
  // `slice_mm` apart: at least one slice away, clamped to the volume (an edge slice repeats).
  std::vector<int> channel_slices(int slice, int num_slices, double slice_mm) const;
};

// canvas_x = source_x * scale_x + offset_x (pixel-edge coordinates), likewise y.
struct CanvasGeometry {
  double pixel_mm = 1.25;
  double scale_x = 1, scale_y = 1, offset_x = 0, offset_y = 0;
  double to_canvas_x(double x) const { return x * scale_x + offset_x; }
  double to_canvas_y(double y) const { return y * scale_y + offset_y; }
  double to_source_x(double x) const { return (x - offset_x) / scale_x; }
  double to_source_y(double y) const { return (y - offset_y) / scale_y; }
};

CanvasGeometry canvas_geometry(int64_t cols, int64_t rows, double col_mm, double row_mm, const CanvasOptions& o);

// Resamples a row-major cols x rows slice onto the canvas with a tent filter whose support
// widens when downsampling (no aliasing from 0.47 mm sources). Outside the slice: 0.
std::vector<float> resample_to_canvas(const float* slice, int64_t cols, int64_t rows, const CanvasGeometry& g, int size);
// Nearest-neighbour resampling for label maps.
std::vector<uint8_t> labels_to_canvas(const uint16_t* slice, int64_t cols, int64_t rows, const CanvasGeometry& g, int size);

}  // namespace spinescan::detect
