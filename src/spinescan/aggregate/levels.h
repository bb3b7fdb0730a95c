#pragma once
// The level model: which level the lowest found body is, from its cues; levels/decision.h
// counts the others upwards from it. Which level that is (L5 when the detector was trained on
// data where the sacrum is not a labelled body, S1 when it was) is learnt from the training
// cases, with how often that was right: that rate is the naming confidence. Counting fails when
// the field of view cuts the lowest body or when the spine has a transitional vertebra
// (sacralised L5, lumbarised S1 / "L6"); both are warned of, not hidden.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/classify/baseline.h"
#include "spinescan/levels/naming_options.h"

namespace spinescan::aggregate {

// The level `steps` above `level` (L5 +1 -> L4, L1 +1 -> T12, S1 +1 -> L5); "" off the ends.
std::string level_above(const std::string& level, int steps);

struct LevelModel {
  std::string lowest_level = "L5";
  double confidence = 0.5;  // share of training cases where counting from the lowest body named every matched body right
  // Whether the detector boxes S1 can vary from study to study (it is a body, but fused to the
  // sacrum and often not labelled in training data). The level head picks between lowest_level
  // and `alternative_level` ("" = always lowest_level) from the lowest body's cues.
  std::string alternative_level;
  // The level head: logistic regression on `head_cues`
  // (class-balanced, fitted on ground-truth examples, levels/level_examples.h), whose
  // log-odds are shifted by the prior log(r / (1 - r)), r = `alternative_rate`: how often the
  // lowest body a detector finds on new studies is the alternative level.
  std::vector<std::string> head_cues;
  classify::LogisticRegression head;
  double alternative_rate = 0.5;
  double head_training_accuracy = 0;  // class-balanced, before the prior; stored as "training_accuracy"
  // Optional second head on the detector's own cues (`score_cues`, e.g. its mean score over
  // the body's slices), fitted class-balanced on the lowest bodies out-of-fold detectors found
  // (ground truth cannot teach these: every ground-truth box has score 1). Its log-odds are
  // added to the image head's as a naive-Bayes product: the two see different evidence
  // (pixels below the body; how sure a detector was that a body is there).
  std::vector<std::string> score_cues;
  classify::LogisticRegression score_head;
  // Optional level net (levels/level_net.h: a ConvNeXt on the picture around the body,
  // trained on ground truth): its description, {"weights": file in the bundle, "spec": ...}; null
  // = none. Where its logit (cue "level_net_logit", class-balanced, so a log likelihood ratio)
  // is known it takes the place of the image head's log-odds: both read the pixels around the
  // body, and the net learns from every slice of every training case.
  nlohmann::json level_net;
  // The thresholds the decision names levels with (levels/decision.h), stored as "naming".
  levels::LevelNamingOptions naming;

  // The level of the lowest found body given its features: the head's pick, lowest_level
  // without a head.
  std::string lowest_for(const std::vector<std::string>& feature_names, const std::vector<double>& lowest_features) const;
  // The `cues` columns of a feature row (NaN where a cue is missing): the heads' inputs.
  static std::vector<double> columns(const std::vector<std::string>& cues, const std::vector<std::string>& feature_names,
                                     const std::vector<double>& features);
  // The head's probability that the lowest found body is the alternative level; -1 without a
  // head or when a cue is missing. `with_score_head` false: the image head and prior alone.
  double alternative_probability(const std::vector<std::string>& feature_names, const std::vector<double>& lowest_features,
                                 bool with_score_head = true) const;
  nlohmann::json to_json() const;
  // ModelError for the one-feature "rule" of manifest version 1, which this version does not have.
  static LevelModel from_json(const nlohmann::json& j);
};

// The lowest found body's cues for the level model: its own features (`feature_names`, the
// columns of vertebra_feature_names()) followed by lowest_relative_cue_names(), measured by
// the caller: "level_net_logit", the level net's mean logit on the body (NaN without one).
struct LowestCues {
  std::vector<std::string> names;
  std::vector<double> values;
};
const std::vector<std::string>& lowest_relative_cue_names();
std::vector<std::string> lowest_cue_names(const std::vector<std::string>& feature_names);  // LowestCues::names
LowestCues lowest_body_cues(const std::vector<std::string>& feature_names, const std::vector<double>& lowest,
                            double level_net_logit);

}  // namespace spinescan::aggregate
