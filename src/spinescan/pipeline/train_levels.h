#pragma once
// `spinescan train levels`: re-learns only the level model of a bundle's aggregator (which
// level the lowest found body is, and the rule that tells it from the one below) from the
// ground truth of a fold's training cases (pipeline/level_examples.h), measures its
// confidence with the bundle's detector on those cases, and scores it beside the bundle's
// current level model on the fold's held-out cases. `model add-levels` puts it into the
// bundle; the boosted trees are left as they are.
#include <cstdint>
#include <string>

#include "spinescan/pipeline/level_examples.h"

namespace spinescan::pipeline {

struct LevelTrainConfig {
  std::string data, split, out;
  std::string model;  // bundle whose detector finds the vertebrae and whose level model is the comparison
  int fold = 0;
  double below_rate = kMeasuredBelowRate;  // the level head's prior (learn_levels)
  std::string device = "cpu";
};

// Writes <out>/levels.json (the level model with its provenance) and <out>/metrics.json
// (level accuracy of the new and the bundle's level model on held-out and training cases,
// and each case's lowest-body decision); returns metrics.json's text.
std::string train_levels(const LevelTrainConfig& config);

// Replaces the level model in a bundle's aggregator section with <run>/levels.json.
void add_levels_to_bundle(const std::string& run, const std::string& bundle);

}  // namespace spinescan::pipeline
