#pragma once
// Vertebral-body boxes on sagittal slices, from an instance-label volume in the canonical
// layout (io/volume.h). Pixel convention (as torchvision): pixel (x, y) covers
// [x, x+1) x [y, y+1), so a body occupying columns 10..19 has x1 = 10, x2 = 20.
// x = column (anterior -> posterior), y = row (superior -> inferior).
#include <cstdint>
#include <optional>
#include <vector>

#include "spinescan/data/dataset.h"
#include "spinescan/io/volume.h"

namespace spinescan {

struct BodyBox {
  int label = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int64_t area_px = 0;  // pixels of the body on this slice (not the box area)
};

// For every canonical slice (axis 2), the boxes of the labels present, sorted by label.
// Bodies with fewer than min_area_px pixels on a slice (lateral slivers) are left out.
std::vector<std::vector<BodyBox>> boxes_per_slice(const Volume<uint16_t>& canonical_labels, int64_t min_area_px = 1);

// A training sample: one sagittal slice with its bodies, level and label joined from the CSV.
struct SliceTarget {
  BodyBox box;
  std::string level;
  std::optional<bool> pathological;
};
struct SliceSample {
  int slice = 0;
  std::vector<SliceTarget> targets;
};
// Every slice of the case (including slices without bodies, which teach a detector to
// say nothing). Throws DataError when a label in the volume has no CSV row.
std::vector<SliceSample> slice_samples(const Volume<uint16_t>& canonical_labels, const std::vector<VertebraRow>& rows,
                                       int64_t min_area_px = 1);

}  // namespace spinescan
