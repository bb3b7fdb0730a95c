#include "spinescan/detect/slice_linking.h"

#include <algorithm>
#include <deque>
#include <utility>

namespace spinescan::detect {

std::vector<std::vector<bool>> link_across_slices(const std::vector<std::vector<eval::Prediction>>& per_slice,
                                                  const SliceLinking& linking) {
  std::vector<std::vector<bool>> kept(per_slice.size());
  std::deque<std::pair<size_t, size_t>> to_visit;  // (slice, candidate) kept, neighbours not yet looked at
  for (size_t k = 0; k < per_slice.size(); ++k) {
    kept[k].assign(per_slice[k].size(), false);
    for (size_t i = 0; i < per_slice[k].size(); ++i)
      if (per_slice[k][i].score >= linking.operating_score) {
        kept[k][i] = true;
        to_visit.emplace_back(k, i);
      }
  }
  const double floor = linking.floor_score();
  while (!to_visit.empty()) {
    const auto [k, i] = to_visit.front();
    to_visit.pop_front();
    for (const size_t n : {k - 1, k + 1}) {
      if (n >= per_slice.size()) continue;  // k - 1 wraps past 0 to a huge index
      for (size_t j = 0; j < per_slice[n].size(); ++j) {
        if (kept[n][j] || per_slice[n][j].score < floor) continue;
        if (ops::iou(per_slice[k][i].box, per_slice[n][j].box) < linking.min_iou) continue;
        bool second_box = false;
        for (size_t m = 0; m < per_slice[n].size() && !second_box; ++m)
          second_box = kept[n][m] && ops::iou(per_slice[n][m].box, per_slice[n][j].box) >= linking.max_iou_on_slice;
        if (second_box) continue;
        kept[n][j] = true;
        to_visit.emplace_back(n, j);
      }
    }
  }
  return kept;
}

}  // namespace spinescan::detect
