#pragma once
// How unlike the training studies a study looks to the models' own appearance features: the
// shape, signal and detector-confidence columns of the vertebra features
// (level_cue_feature_names(); no pathology probability among them, so a study full of lesions
// is not "unfamiliar" for its lesions alone). A study scoring above the reference's threshold
// gets no verdicts: its bodies are found and named, and the report says why nothing is judged.
//
// Score of a study: the median over its vertebrae of each vertebra's mean robust |z| over the
// features, z = (x - training median) / (1.4826 MAD), each |z| capped at kMaxAbsZ so one wild
// column cannot decide alone. The threshold is a margin over the highest score of a training
// study (docs/analyze.md says how it was chosen).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace spinescan::aggregate {

struct OodReference {
  static constexpr double kMaxAbsZ = 8;
  std::vector<std::string> features;  // names (vertebra_feature_names() columns)
  std::vector<double> median, scale;  // per feature, over the training vertebrae
  double threshold = 0;               // a study scoring above it is unlike the training data
  nlohmann::json provenance = nlohmann::json::object();

  bool empty() const { return features.empty(); }
  // `rows`: one vertebra each, columns named by `feature_names`; NaN values are skipped.
  // NaN when no vertebra has a usable value.
  double score(const std::vector<std::string>& feature_names, const std::vector<std::vector<double>>& rows) const;

  // Medians and scales of the `wanted` features over every vertebra of `studies` (rows as
  // above); the threshold is `margin` times the highest training-study score.
  static OodReference fit(const std::vector<std::string>& wanted, const std::vector<std::string>& feature_names,
                          const std::vector<std::vector<std::vector<double>>>& studies, double margin);

  nlohmann::json to_json() const;
  static OodReference from_json(const nlohmann::json& j);  // ModelError when malformed
};

}  // namespace spinescan::aggregate
