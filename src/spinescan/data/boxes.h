#pragma once
// Vertebral-body boxes on sagittal slices, from an instance-label volume in the canonical
// layout (io/volume.h); the box convention is ops/box.h's.
#include <cstdint>
#include <vector>

#include "spinescan/io/volume.h"
#include "spinescan/ops/box.h"

namespace spinescan {

struct BodyBox {
  int label = 0;
  ops::Box box;
  int64_t area_px = 0;  // pixels of the body on this slice (not the box area)
};

// For every canonical slice (axis 2), the boxes of the labels present, sorted by label.
// Bodies with fewer than min_area_px pixels on a slice (lateral slivers) are left out.
std::vector<std::vector<BodyBox>> boxes_per_slice(const Volume<uint16_t>& canonical_labels, int64_t min_area_px = 1);

}  // namespace spinescan
