#pragma once
// The thresholds of the level decision (levels/decision.h). They are part of the level model
// and travel with it in the bundle's manifest ("levels" section, "naming"), so a bundle names
// levels the way it was measured to; `train levels` writes them. Bundles made before they were
// stored get the values they were measured with, the defaults here.
#include <nlohmann/json.hpp>

namespace spinescan::levels {

struct LevelNamingOptions {
  // The level head's probability that the lowest body is the alternative level, strictly
  // between these two: the lowest body may be either level.
  double unsure_p_low = 0.2, unsure_p_high = 0.8;
  // The lowest body's height under this share of the mean of the three above it: a sacralised
  // L5, or an S1 taken for a lumbar body. Its names' confidence is multiplied by the factor.
  double short_lowest_fraction = 0.65;
  double short_lowest_confidence_factor = 0.6;
  // The lowest body's lower edge closer than this to the image's bottom edge: the field of view
  // may cut off a body below it. Its names' confidence is multiplied by the factor.
  double bottom_margin_mm = 3.0;
  double cut_lowest_confidence_factor = 0.5;
  // Each step up the column from the lowest body keeps this share of the confidence (a missed or
  // doubled body is possible at each; 2 % a step, from the detector's per-body recall).
  double confidence_kept_per_step = 0.98;

  nlohmann::json to_json() const;
  // Every field is required, and each must lie in its range; ModelError naming the field.
  static LevelNamingOptions from_json(const nlohmann::json& j);
};

}  // namespace spinescan::levels
