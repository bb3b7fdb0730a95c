#pragma once
// Keeping the detector's less certain boxes where a neighbouring slice confirms them.
//
// A sagittal slice through the side of a vertebral body shows a small, faint section: the
// detector finds it, but often below its operating score (measured in docs/model_card.md,
// "Where the detector misses"). A box scoring at least `linked_score` is kept when it overlaps
// (IoU >= min_iou) a kept box on the slice next to it and no kept box on its own slice, and
// that spreads outwards slice by slice from the boxes at or above the operating score; an
// isolated uncertain box is dropped.
// The same rule as hysteresis thresholding of edges, across slices instead of pixels.
#include <vector>

#include "spinescan/eval/detection_metrics.h"

namespace spinescan::detect {

struct SliceLinking {
  double operating_score = 0.3;  // kept on its own
  double linked_score = 0.3;     // kept when linked; = operating_score: no linking
  double min_iou = 0.5;          // with the kept box on the neighbouring slice
  // A candidate overlapping a box already kept on its own slice this much is a second box on
  // the same body (non-maximum suppression lets those under 0.5 through), not a missed one.
  // Two neighbouring bodies' boxes overlap far less.
  double max_iou_on_slice = 0.3;
  // The lowest score a kept box can have.
  double floor_score() const { return linked_score < operating_score ? linked_score : operating_score; }
};

// per_slice[k]: the candidates of canonical slice k (consecutive slices, every one present, an
// empty one for a slice without candidates). Returns, for each candidate, whether it is kept.
std::vector<std::vector<bool>> link_across_slices(const std::vector<std::vector<eval::Prediction>>& per_slice,
                                                  const SliceLinking& linking);

}  // namespace spinescan::detect
