#pragma once
// The whole method on one study: detector boxes on every sagittal slice -> 3D vertebrae
// (tracks) -> the classifier's probability on each box -> per-vertebra features -> the
// boosted-tree aggregator's probability -> level names. No torch types here: the CLI and
// the report include this header.
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "spinescan/aggregate/features.h"
#include "spinescan/aggregate/levels.h"
#include "spinescan/aggregate/tracks.h"
#include "spinescan/detect/detect_study.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/levels/decision.h"
#include "spinescan/pipeline/fitness.h"

namespace spinescan::pipeline {

struct VertebraFinding {
  aggregate::Track track;             // boxes by slice, with detector scores and classifier probabilities
  std::string level;                  // "" when counting ran off the known names
  double level_confidence = 0;
  aggregate::SliceEvidence evidence;  // summary of the per-slice probabilities
  std::vector<double> features;       // aggregate::vertebra_feature_names() order
  double probability = -1;            // p(pathological), calibrated; -1 when the bundle has no classifier
  bool pathological = false;          // probability >= the bundle's operating threshold
};

struct StudyAnalysis {
  StudyInfo info;
  Volume<float> normalized;  // canonical, per-slice normalised (what the models saw; for pictures)
  double operating_score = 0;
  std::vector<detect::SliceDetection> detections;  // the detector's boxes, linked ones included (detect_study.h)
  std::vector<int> slices_not_examined;            // beyond the column's ends, not looked at (detect/slice_schedule.h)
  std::vector<VertebraFinding> vertebrae;          // superior -> inferior
  std::vector<std::string> warnings;
  // The level decision's warnings (levels/decision.h), also among `warnings` as text.
  std::vector<levels::LevelWarning> level_warnings;
  std::string probability_source;  // "aggregator", "classifier (max over slices)" or "none"
  double threshold = 0.5;
  std::vector<std::pair<std::string, double>> timing_ms;  // stage -> wall milliseconds
  // Not empty: the study is not what the models were made for (pipeline/fitness.h) and is
  // not analysed; `vertebrae` is then empty, whatever the detector boxed.
  std::string refusal;
  ColumnGeometry column;  // of the bodies found (before any refusal after detection)
  // How unlike the bundle's training studies this one looks (aggregate/ood.h); NaN without a
  // reference in the bundle. Above the threshold no vertebra is judged (probability -1).
  double ood_score = std::numeric_limits<double>::quiet_NaN();
  double ood_threshold = 0;
  // The same on the classifier's own features (aggregate::EmbeddingOodReference); NaN and 0
  // when the bundle's reference has none. Above its threshold no vertebra is judged either.
  double ood_embedding_score = std::numeric_limits<double>::quiet_NaN();
  double ood_embedding_threshold = 0;
  bool verdicts_withheld = false;
};

struct AnalyzerOptions {
  std::string device = "cpu";
  // Use this run's or bundle's classifier instead of the bundle's own (out-of-fold
  // predictions when training the aggregator).
  std::filesystem::path classifier;
  // Use this run's or bundle's detector instead of the bundle's own (out-of-fold detections
  // when training the aggregator: a detector on its own training cases never boxes what it
  // learnt as background, such as S1, so its records would hide that failure).
  std::filesystem::path detector;
  bool use_aggregator = true;  // false: probability = calibrated max over slices
  // Use this intensity model (LogisticRegression JSON) instead of the bundle's (out of fold).
  nlohmann::json intensity_model;
};

// A loaded model bundle (detector, classifier and aggregator when present), reused across studies.
class Analyzer {
 public:
  explicit Analyzer(const std::filesystem::path& bundle, const AnalyzerOptions& options = {});
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  StudyAnalysis analyze(const LoadedStudy& study);
  // {name, version, revision, stages, threshold, ...} for reports.
  nlohmann::json model_description() const;
  bool has_classifier() const;
  bool has_aggregator() const;
  // detect::int8_calibration_cases_not_evaluated for this analyzer's detector.
  std::vector<std::string> int8_calibration_cases_not_evaluated(const std::vector<std::string>& evaluated) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The aggregator's section of a bundle manifest (written by `spinescan train aggregator`).
struct AggregatorSpec {
  std::string model_file = "aggregator.json";
  std::vector<std::string> features;  // the columns it was trained on: names in vertebra_feature_names()
  double threshold = 0.5;
  aggregate::LinkOptions link;
  nlohmann::json intensity_model;  // classify::LogisticRegression JSON, or null
  nlohmann::json provenance = nlohmann::json::object();
  nlohmann::json to_json() const;
  static AggregatorSpec from_json(const nlohmann::json& j);
};

// Parses every stage a bundle's manifest describes (detector, classifier, aggregator with its
// intensity model, level model, out-of-distribution reference) the way loading it would, and
// checks its version and the file names they point at, without reading any weights. ModelError
// naming the section and field; nothing else escapes for any JSON value (fuzzed:
// fuzz/targets/bundle_manifest.cpp). `folder` names the bundle in the version message.
void check_bundle_manifest(const nlohmann::json& manifest, const std::string& folder = "BUNDLE");

// The bundle's level model ("levels" section); none when the bundle has none.
std::optional<aggregate::LevelModel> bundle_level_model(const nlohmann::json& manifest);

// A version 1 manifest as version 2 (core/manifest.h), with a line for each thing changed: the
// aggregator's level model moves to "levels" when it is a learnt head (or has no alternative),
// and is dropped when it is version 1's one-feature rule or when the manifest already has
// "levels"; the aggregator's provenance loses its level accuracy (it measured the aggregator
// run's own level model, which is no longer the bundle's). A version 2 manifest comes back
// as it is with no lines; ModelError for a newer one.
struct ManifestUpgrade {
  nlohmann::json manifest;
  std::vector<std::string> changes;
};
ManifestUpgrade upgrade_manifest(const nlohmann::json& manifest);

}  // namespace spinescan::pipeline
