#include "spinescan/detect/matcher.h"

#include <torch/torch.h>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

void MatcherOptions::validate() const {
  SPINESCAN_CHECK_AS(bg_iou <= fg_iou && bg_iou >= 0 && fg_iou <= 1, ConfigError,
                     "matcher: need 0 <= bg_iou <= fg_iou <= 1, got ", bg_iou, ", ", fg_iou);
}

torch::Tensor match_anchors(const torch::Tensor& iou, const MatcherOptions& o) {
  o.validate();
  const int64_t num_anchors = iou.size(1);
  if (iou.size(0) == 0) return torch::full({num_anchors}, kBackground, torch::kLong);
  // Best box per anchor; max() returns the first index on ties (the lower box index).
  const auto [best_iou, best_box] = iou.max(0);
  auto matches = best_box.clone();
  matches.masked_fill_(best_iou < o.bg_iou, kBackground);
  matches.masked_fill_((best_iou >= o.bg_iou) & (best_iou < o.fg_iou), kIgnored);
  if (o.allow_low_quality) {
    const auto best_per_box = std::get<0>(iou.max(1));                     // [G]
    const auto is_best = (iou == best_per_box.unsqueeze(1)) & (iou > 0);  // [G, A]
    const auto anchors = is_best.any(0);
    matches = torch::where(anchors, best_box, matches);
  }
  return matches;
}

}  // namespace spinescan::detect
