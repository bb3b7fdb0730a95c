#include "spinescan/data/boxes.h"

#include <algorithm>
#include <map>

#include "spinescan/core/errors.h"

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
          b.x1 = static_cast<float>(x);
          b.x2 = static_cast<float>(x + 1);
          b.y1 = static_cast<float>(y);
          b.y2 = static_cast<float>(y + 1);
        } else {
          b.x1 = std::min(b.x1, static_cast<float>(x));
          b.x2 = std::max(b.x2, static_cast<float>(x + 1));
          b.y2 = static_cast<float>(y + 1);  // rows are visited in order
        }
        ++b.area_px;
      }
    for (const auto& [label, box] : by_label)
      if (box.area_px >= min_area_px) out[static_cast<size_t>(k)].push_back(box);
  }
  return out;
}

std::vector<SliceSample> slice_samples(const Volume<uint16_t>& labels, const std::vector<VertebraRow>& rows,
                                       int64_t min_area_px) {
  std::map<int, const VertebraRow*> row_of;
  for (const auto& r : rows) row_of[r.label] = &r;
  std::vector<SliceSample> out;
  const auto boxes = boxes_per_slice(labels, min_area_px);
  for (size_t k = 0; k < boxes.size(); ++k) {
    SliceSample s;
    s.slice = static_cast<int>(k);
    for (const auto& b : boxes[k]) {
      auto it = row_of.find(b.label);
      SPINESCAN_CHECK(it != row_of.end(), "label ", b.label, " on slice ", k, " has no row in vertebrae.csv");
      s.targets.push_back({b, it->second->level, it->second->pathological});
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace spinescan
