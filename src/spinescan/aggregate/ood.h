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

#include "spinescan/aggregate/tracks.h"

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

// The same check on what the classifier itself makes of a vertebra: the pooled features its
// head reads (classify::classifier_outputs), averaged over the vertebra's judged slices. The
// appearance columns above are a dozen hand-made statistics; a drawn phantom's marrow or an
// unfamiliar texture can sit inside their ranges and still be nothing the network has seen
// (docs/model_card.md, "Out-of-distribution reference"). Stored in the manifest's "ood"
// section as "classifier_embedding"; it belongs to one classifier, named by the digest of the
// manifest's "classifier" section it was fitted with, and a bundle whose classifier has
// changed since is refused until it is refitted.
struct EmbeddingOodReference {
  OodReference reference;         // over embedding_feature_names(dims)
  std::string classifier_digest;  // section_digest() of the classifier it was fitted with

  bool empty() const { return reference.empty(); }
  // Whether `manifest` holds the classifier this reference was fitted with.
  bool fitted_with(const nlohmann::json& manifest) const;
  nlohmann::json to_json() const;
  static EmbeddingOodReference from_json(const nlohmann::json& j);  // ModelError when malformed
};

// "embedding_0" .. "embedding_<dims-1>": the columns of vertebra_embedding rows.
std::vector<std::string> embedding_feature_names(size_t dims);
// Mean of the judged boxes' embeddings; `dims` NaNs when no box of the track was classified.
std::vector<double> vertebra_embedding(const Track& track, size_t dims);
// A digest of a manifest section (64-bit FNV-1a of its JSON text, in hex) that stays the same
// across builds and machines, unlike std::hash.
std::string section_digest(const nlohmann::json& section);

}  // namespace spinescan::aggregate
