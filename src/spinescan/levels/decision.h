#pragma once
// The level decision: one function takes a study's evidence about its column and gives every
// found body its level name and confidence, and the warnings a reader needs, as values.
// `analyze` only formats it. What the names rest on is the lowest found body: the level model
// (aggregate/levels.h) says which level it is from its cues (the picture below it, the level
// net's readings, the detector's confidence), and the others are counted upwards from it.
#include <limits>
#include <string>
#include <vector>

#include "spinescan/aggregate/levels.h"
#include "spinescan/aggregate/tracks.h"
#include "spinescan/levels/naming_options.h"

namespace spinescan::levels {

// What a study shows about its lowest found body.
struct LevelEvidence {
  aggregate::LowestCues lowest;  // its cues (aggregate::lowest_body_cues), the level net's logit among them
  double net_logit = std::numeric_limits<double>::quiet_NaN();    // the level net's reading (NaN: no net)
  double net_ceiling = std::numeric_limits<double>::quiet_NaN();  // the largest reading it was trained towards
  bool net_indecisive = false;   // LevelNet::indecisive: neither clearly lumbar nor clearly sacral
  int rows = 0;                  // the study's canonical rows (superior -> inferior); 0: unknown
  double row_mm = 1.0;
  // Two neighbouring bodies whose boxes overlap more than bodies do (pipeline/fitness.h,
  // doubt_overlap_fraction): the index of the upper one in the tracks, -1 none; and the overlap
  // (share of the smaller one's height).
  int overlapping_upper = -1;
  double overlap_fraction = 0;
};

enum class LevelWarning {
  kFieldCutsLowest,     // the image's bottom edge cuts the lowest body: a body below may be out of view
  kCountTheVertebrae,   // the lowest body's level is in doubt (transitional anatomy, or L5 against S1)
  kBodiesOverlap,       // two neighbouring bodies overlap: one may be a body found twice, the names above them one level off
};

// The signs that put the lowest body's level in doubt; each one seen adds a reason to the one
// "count the vertebrae" warning.
struct DoubtSigns {
  bool head_unsure = false;  // the level head's p is inside the unsure band
  bool net_indecisive = false;
  bool short_lowest = false;
  double lowest_height_fraction = 1.0;  // of the mean of the three bodies above
};

struct LevelDecision {
  std::vector<std::string> names;   // per track, superior -> inferior ("" off the ends of the spine)
  std::vector<double> confidences;  // per track
  std::string lowest_level;         // the level the names assume the lowest body is
  std::string other_level;          // what else it could be ("" when the model knows of nothing else)
  double p_alternative = -1;        // the level head's p for the model's alternative level; -1: no head
  std::string alternative_level;    // the level p_alternative is for
  double net_logit = std::numeric_limits<double>::quiet_NaN(), net_ceiling = std::numeric_limits<double>::quiet_NaN();
  DoubtSigns doubt;
  std::vector<LevelWarning> warnings;
  // The level below the lowest one the models were trained on, when a body is named so and the
  // lowest body's identity is not in doubt: named, not judged (no classifier saw one). "" = none.
  std::string unjudged_level;
  std::string trained_down_to;  // the lowest level the models learnt from
  int overlapping_upper = -1;    // LevelEvidence's, when kBodiesOverlap is warned
  double overlap_fraction = 0;

  // One line per warning, in the order of `warnings`.
  std::vector<std::string> messages() const;
};

// Whether these warnings tell the reader to count the vertebrae (either warning that puts names in doubt).
bool count_warned(const std::vector<LevelWarning>& warnings);

LevelDecision decide_levels(const std::vector<aggregate::Track>& tracks, const aggregate::LevelModel& model,
                            const LevelEvidence& evidence);

}  // namespace spinescan::levels
