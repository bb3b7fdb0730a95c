#pragma once
// The box type every stage shares: an axis-aligned rectangle on one canonical sagittal slice,
// in canonical pixels with pixel-edge coordinates (as torchvision): pixel (x, y) covers
// [x, x+1) x [y, y+1), so a body on columns 10..19 has x1 = 10, x2 = 20. x = column
// (anterior -> posterior), y = row (superior -> inferior). Ground truth from label maps,
// detections, classifier crops, tracked bodies and the report all use it; ops/box_ops.h holds
// the same convention as [N, 4] tensors for batched work in the models.
// Records that carry a box and more (its slice, label, scores) hold one as their `box`.
#include <algorithm>

namespace spinescan::ops {

struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;

  double width() const { return x2 - x1; }
  double height() const { return y2 - y1; }
  // Boxes here are never inverted (x2 >= x1, y2 >= y1), so no clamping.
  double area() const { return width() * height(); }
  double centre_x() const { return 0.5 * (x1 + x2); }
  double centre_y() const { return 0.5 * (y1 + y2); }
};

// Intersection over union; 0 when the boxes do not overlap.
inline double iou(const Box& a, const Box& b) {
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const double h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  const double uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0;
}

// The smallest box holding both.
inline Box enclosing(const Box& a, const Box& b) {
  return {std::min(a.x1, b.x1), std::min(a.y1, b.y1), std::max(a.x2, b.x2), std::max(a.y2, b.y2)};
}

}  // namespace spinescan::ops
