#include "spinescan/data/boxes.h"

#include <algorithm>
#include <map>

namespace spinescan {

std::vector<std::vector<BodyBox>> boxes_per_slice(const Volume<uint16_t>& v, int64_t min_area_px) {
  const int64_t cols = v.size[0], rows = v.size[1], slices = v.size[2];
  std::vector<std::vector<BodyBox>> out(static_cast<size_t>(slices));
  for (int64_t k = 0; k < slices; ++k) {
    std::map<int, BodyBox> by_label;
    const uint16_t* slice = v.voxels.data() + k * cols * rows;
    for (int64_t y = 0; y < rows; ++y)
      for (int64_t x = 0; x < cols; ++x) {
        const uint16_t l = slice[y * cols + x];
        if (!l) continue;
        auto [it, inserted] = by_label.try_emplace(l);
        BodyBox& b = it->second;
        if (inserted) {
          b.label = l;
          b.box = {double(x), double(y), double(x + 1), double(y + 1)};
        } else {
          b.box.x1 = std::min(b.box.x1, double(x));
          b.box.x2 = std::max(b.box.x2, double(x + 1));
          b.box.y2 = double(y + 1);  // rows are visited in order
        }
        ++b.area_px;
      }
    for (const auto& [label, box] : by_label)
      if (box.area_px >= min_area_px) out[static_cast<size_t>(k)].push_back(box);
  }
  return out;
}

}  // namespace spinescan
