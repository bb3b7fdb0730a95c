#pragma once
// Level names for tracks ordered superior -> inferior, counted upwards from the lowest one.
// Which level the lowest detected body is (L5 when the detector was trained on data where the
// sacrum is not a labelled body, S1 when it was) is learnt by `train aggregator` from the
// training cases, with how often that was right: that rate is the naming confidence.
// Counting fails when the field of view cuts the lowest body or when the spine has a
// transitional vertebra (sacralised L5, lumbarised S1 / "L6"); both are flagged, not hidden.
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"

namespace spinescan::aggregate {

// The level `steps` above `level` (L5 +1 -> L4, L1 +1 -> T12, S1 +1 -> L5); "" off the ends.
std::string level_above(const std::string& level, int steps);

struct LevelModel {
  std::string lowest_level = "L5";
  double confidence = 0.5;  // share of training cases where counting from the lowest body named every matched body right
};

struct NamedLevel {
  std::string level;
  double confidence = 0;
};

struct LevelContext {
  int rows = 0;           // canonical rows of the study (S->I extent)
  double row_mm = 1.0;    // row spacing
};

// Names tracks (ordered superior -> inferior); appends human-readable warnings.
std::vector<NamedLevel> name_levels(const std::vector<Track>& tracks, const LevelModel& model, const LevelContext& context,
                                    std::vector<std::string>* warnings);

}  // namespace spinescan::aggregate
