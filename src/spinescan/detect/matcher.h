#pragma once
// Anchor-to-ground-truth assignment by IoU (RetinaNet): IoU >= fg_iou -> that box,
// IoU < bg_iou -> background (-1), in between -> ignored (-2). With allow_low_quality, each
// ground-truth box also claims the anchor(s) with its highest IoU (all of them on ties), so
// no box goes without an anchor; such an anchor takes the box it overlaps best.
#include <torch/types.h>

namespace spinescan::detect {

struct MatcherOptions {
  double fg_iou = 0.5;
  double bg_iou = 0.4;
  bool allow_low_quality = true;
  void validate() const;
};

constexpr int64_t kBackground = -1;
constexpr int64_t kIgnored = -2;

// iou: [G, A] -> [A] (int64): ground-truth index, kBackground or kIgnored.
torch::Tensor match_anchors(const torch::Tensor& iou, const MatcherOptions& options = {});

}  // namespace spinescan::detect
