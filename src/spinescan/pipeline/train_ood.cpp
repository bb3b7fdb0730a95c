#include "spinescan/pipeline/train_ood.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <map>

#include "spinescan/aggregate/features.h"
#include "spinescan/aggregate/ood.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/version.h"
#include "spinescan/data/splits.h"
#include "spinescan/pipeline/evaluate.h"

namespace fs = std::filesystem;

namespace spinescan::pipeline {

std::string train_ood(const OodTrainConfig& c) {
  SPINESCAN_CHECK_AS(!c.data.empty() && !c.split.empty() && !c.out.empty() && !c.model.empty(), ConfigError,
                     "train ood needs --data, --split, --model and --out");
  SPINESCAN_CHECK_AS(c.margin >= 1, ConfigError, "--margin must be at least 1, got ", c.margin);
  const Dataset dataset = load_dataset(c.data);
  const Splits splits = Splits::load(c.split);
  SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(splits.folds.size()), ConfigError, "--fold ", c.fold, " not in ",
                     c.split);
  const Fold& fold = splits.folds[static_cast<size_t>(c.fold)];
  auto from_sources = [&](const std::string& name) {
    return c.sources.empty() || std::find(c.sources.begin(), c.sources.end(), case_source(name)) != c.sources.end();
  };

  // Every case of the dataset is analysed once: the fit reads the training cases of the chosen
  // sources, the scores are reported for all.
  std::vector<std::string> cases;
  for (const auto& e : dataset.cases) cases.push_back(e.name);
  AnalyzerOptions options;
  options.device = c.device;
  Analyzer analyzer(c.model, options);
  std::map<std::string, std::vector<std::vector<double>>> rows_of, embeddings_of;
  size_t dims = 0;  // of the classifier's pooled features, from the first box it judged
  analyze_cases(analyzer, dataset, cases, c.fold, nullptr, [&](size_t, const std::string& name, const StudyAnalysis& a) {
    auto& rows = rows_of[name];
    for (const auto& v : a.vertebrae) {
      rows.push_back(v.features);
      for (size_t i = 0; dims == 0 && i < v.track.boxes.size(); ++i) dims = v.track.boxes[i].embedding.size();
      if (dims > 0) embeddings_of[name].push_back(aggregate::vertebra_embedding(v.track, dims));
    }
  });

  std::vector<std::string> fitted;
  std::vector<std::vector<std::vector<double>>> studies;
  for (const auto& name : fold.train)
    if (from_sources(name) && !rows_of[name].empty()) fitted.push_back(name), studies.push_back(rows_of[name]);
  SPINESCAN_CHECK_AS(studies.size() >= 5, ConfigError, "only ", studies.size(),
                     " training studies with vertebrae found to fit the reference on; at least 5 are needed");
  aggregate::OodReference reference = aggregate::OodReference::fit(aggregate::level_cue_feature_names(),
                                                                   aggregate::vertebra_feature_names(), studies, c.margin);
  reference.provenance["fold"] = c.fold;
  reference.provenance["sources"] = c.sources;
  reference.provenance["bundle"] = c.model;
  reference.provenance["revision"] = git_revision();

  // The same on the classifier's own features, when the bundle has a classifier.
  aggregate::EmbeddingOodReference embedding;
  const nlohmann::json manifest = read_manifest(resolve_bundle_folder(c.model));
  if (dims > 0 && manifest.contains("classifier")) {
    std::vector<std::vector<std::vector<double>>> embedded;
    for (const auto& name : fitted) embedded.push_back(embeddings_of[name]);
    const auto names = aggregate::embedding_feature_names(dims);
    embedding.reference = aggregate::OodReference::fit(names, names, embedded, c.margin);
    embedding.reference.provenance["fold"] = c.fold;
    embedding.classifier_digest = aggregate::section_digest(manifest["classifier"]);
  }

  nlohmann::json per_case = nlohmann::json::array();
  std::map<std::string, std::pair<int, int>> above_by_set;  // "<set> <source>" -> above, total
  for (const auto& name : cases) {
    const double score = reference.score(aggregate::vertebra_feature_names(), rows_of[name]);
    const double features_score = embedding.empty() ? std::numeric_limits<double>::quiet_NaN()
                                                    : embedding.reference.score(embedding.reference.features, embeddings_of[name]);
    const bool in_fit = std::find(fitted.begin(), fitted.end(), name) != fitted.end();
    const bool in_train = std::find(fold.train.begin(), fold.train.end(), name) != fold.train.end();
    const std::string set = in_fit ? "fitted" : in_train ? "training_other_source" : "heldout";
    const bool features_above = std::isfinite(features_score) && features_score > embedding.reference.threshold;
    const bool above = (std::isfinite(score) && score > reference.threshold) || features_above;
    auto& count = above_by_set[set + " " + case_source(name)];
    count.first += above;
    ++count.second;
    auto number_or_null = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
    per_case.push_back({{"case", name}, {"set", set}, {"source", case_source(name)}, {"score", number_or_null(score)},
                        {"classifier_features_score", number_or_null(features_score)},
                        {"classifier_features_above_threshold", features_above}, {"above_threshold", above}});
  }
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& [key, count] : above_by_set) summary[key] = {{"above_threshold", count.first}, {"cases", count.second}};
  const nlohmann::json metrics = {{"fold", c.fold}, {"threshold", reference.threshold},
                                  {"classifier_features_threshold", embedding.empty() ? nlohmann::json(nullptr) : nlohmann::json(embedding.reference.threshold)},
                                  {"fitted_cases", fitted},
                                  {"above_threshold_by_set_and_source", summary}, {"cases", per_case}};
  fs::create_directories(c.out);
  nlohmann::json ood = reference.to_json();
  if (!embedding.empty()) ood["classifier_embedding"] = embedding.to_json();
  write_text_atomically(fs::path(c.out) / "ood.json", ood.dump(2) + "\n");
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(fs::path(c.out) / "metrics.json", text);
  return text;
}

void add_ood_to_bundle(const std::string& run, const std::string& bundle) {
  const nlohmann::json j = read_json_file(fs::path(run) / "ood.json", "an out-of-distribution reference");
  aggregate::OodReference::from_json(j);                  // refuse a malformed one before it reaches a bundle
  const nlohmann::json manifest = read_manifest(bundle);  // an existing, valid manifest: never a fresh one in its place
  if (j.contains("classifier_embedding")) {
    const auto embedding = aggregate::EmbeddingOodReference::from_json(j["classifier_embedding"]);
    SPINESCAN_CHECK_AS(embedding.fitted_with(manifest), ModelError, run, ": this out-of-distribution reference was fitted with another classifier than ", bundle,
                       "'s; fit it on this bundle (spinescan train ood --model ", bundle, ")");
  }
  write_manifest_section(bundle, "ood", j);
}

}  // namespace spinescan::pipeline
