#pragma once
// `spinescan train levels`: learns a bundle's level model (which level the lowest found body
// is, and the head that tells it from the one below) from the
// ground truth of a fold's training cases (levels/level_examples.h), measures its
// confidence with the bundle's detector (or out-of-fold detectors) on those cases, and scores
// it beside the bundle's current level model (if it has one) on the fold's held-out cases.
// `model add-levels` puts it into the bundle's "levels" section, the only way a level model
// gets into a bundle; the other stages are left as they are.
#include <cstdint>
#include <string>

#include "spinescan/levels/level_examples.h"

namespace spinescan::levels {

struct LevelTrainConfig {
  std::string data, split, out;
  std::string model;  // bundle whose detector finds the vertebrae and whose level model (if any) is the comparison
  int fold = 0;
  double below_rate = kMeasuredBelowRate;  // the level head's prior (learn_levels)
  // Empty: the bundle's detector reads every case. Else one detector run (or bundle) per fold,
  // in fold order, run j never having seen fold j's cases: each training case is then read by
  // a detector that did not train on it, as a user's study is, so the records show how often it
  // boxes the body below (the head's prior) and how sure it is there (its score head), and
  // the held-out fold is read by run --fold.
  std::vector<std::string> detector_runs;
  std::string records_cache;  // folder of cached records (default: out); share it between folds
  std::string device = "cpu";
  int level_net_steps = 0;  // > 0: train the level net (levels/level_net.h) for this many steps
  bool resume = false;      // continue the level net's run in <out>/level_net_run
  uint64_t seed = 0;
};

// Writes <out>/levels.json (the level model with its provenance, which holds its level
// accuracy on the held-out fold) and <out>/metrics.json
// (level accuracy of the new and the bundle's level model on held-out and training cases,
// and each case's lowest-body decision); returns metrics.json's text.
std::string train_levels(const LevelTrainConfig& config);

// Sets the bundle's "levels" section to <run>/levels.json (and copies its level net's weights).
void add_levels_to_bundle(const std::string& run, const std::string& bundle);

}  // namespace spinescan::levels
