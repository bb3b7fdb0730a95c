#include "spinescan/pipeline/train_aggregator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include "spinescan/aggregate/features.h"
#include "spinescan/aggregate/levels.h"
#include "spinescan/classify/baseline.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/version.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/splits.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/pipeline/end_to_end.h"
#include "spinescan/pipeline/evaluate.h"
#include "spinescan/levels/level_examples.h"

namespace spinescan::pipeline {

namespace fs = std::filesystem;

namespace {

// What the cached records were computed from; a change recomputes them (model_key stands for
// each model's weights, kRecordsVersion for how analyze computes a record).
nlohmann::json records_key(const AggregatorTrainConfig& c, const std::string& data) {
  const auto keyed_runs = [](const std::vector<std::string>& runs, const char* section) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : runs) out.push_back(model_key(r, section));
    return out;
  };
  nlohmann::json key = {{"records_version", kRecordsVersion},
          {"data", fs::weakly_canonical(data).string()}, {"split", fs::weakly_canonical(c.split).string()},
          {"model", model_key(c.model, "detector")},
          {"classifier_runs", keyed_runs(c.classifier_runs, "classifier")},
          {"features", aggregate::vertebra_feature_names()},
          {"intensity_model", "logistic regression on the training cases of each fold"}};
  // Only when given, so records cached before --detectors existed stay valid.
  if (!c.detector_runs.empty()) key["detector_runs"] = keyed_runs(c.detector_runs, "detector");
  return key;
}

// The intensity model of fold j: fitted on the ground-truth boxes of fold j's training cases.
nlohmann::json fold_intensity_model(const Dataset& dataset, const std::vector<std::string>& train_cases) {
  const classify::ClassifierData train = classify::load_classifier_data(dataset, train_cases);
  return classify::fit_intensity_model(train).to_json();
}

// The records of `data` (c.data or one of c.extra_data), cached in `cache_file`.
// `heldout_intensity_model`: fold c.fold's of c.data, already fitted for the bundle; the others
// are fitted on `data`'s own training cases here when the records are not cached.
std::vector<VertebraRecord> load_or_compute_records(const AggregatorTrainConfig& c, const std::string& data,
                                                    const fs::path& cache_file, const Splits& splits,
                                                    const nlohmann::json& heldout_intensity_model) {
  return cached_records(cache_file, records_key(c, data), [&] {
    const Dataset dataset = load_dataset(data);
    std::vector<VertebraRecord> records;
    for (size_t j = 0; j < splits.folds.size(); ++j) {
      log_info(data + ", fold " + std::to_string(j) + ": " + std::to_string(splits.folds[j].val.size()) + " cases, classifier " +
               c.classifier_runs[j] + (c.detector_runs.empty() ? std::string() : ", detector " + c.detector_runs[j]));
      AnalyzerOptions options;
      options.device = c.device;
      options.classifier = c.classifier_runs[j];
      if (!c.detector_runs.empty()) options.detector = c.detector_runs[j];
      options.use_aggregator = false;
      options.intensity_model =
          static_cast<int>(j) == c.fold ? heldout_intensity_model : fold_intensity_model(dataset, splits.folds[j].train);
      Analyzer analyzer(c.model, options);
      SPINESCAN_CHECK_AS(analyzer.has_classifier(), ConfigError, c.classifier_runs[j], ": no classifier");
      for (auto& r : analyze_cases(analyzer, dataset, splits.folds[j].val, static_cast<int>(j))) records.push_back(std::move(r));
    }
    return records;
  });
}

struct Rows {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  std::vector<float> w;  // empty: every row 1
};
// within_source: weights from classify::within_source_weights, so the trees cannot learn a
// scanner from features such as slice count or absolute intensity; the sources it could not
// balance (one class only) go to *single_class_sources when given.
Rows training_rows(const std::vector<VertebraRecord>& records, const std::function<bool(const VertebraRecord&)>& use,
                   bool within_source, std::vector<std::string>* single_class_sources = nullptr) {
  Rows rows;
  std::vector<std::string> sources;
  for (const auto& r : records)
    if (r.found && r.target >= 0 && use(r))
      rows.x.push_back(r.features), rows.y.push_back(r.target), sources.push_back(case_source(r.case_name));
  if (within_source) rows.w = classify::within_source_weights(rows.y, sources, single_class_sources);
  return rows;
}

// Writes the booster's p of each found record that `use` selects into (*scores)[record index].
void predict_found(const aggregate::Booster& b, const std::vector<VertebraRecord>& records,
                   const std::function<bool(const VertebraRecord&)>& use, std::vector<double>* scores) {
  std::vector<std::vector<double>> x;
  std::vector<size_t> where;
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].found && use(records[i])) x.push_back(records[i].features), where.push_back(i);
  const auto p = b.predict(x);
  for (size_t k = 0; k < where.size(); ++k) (*scores)[where[k]] = p[k];
}

}  // namespace

std::string train_aggregator(const AggregatorTrainConfig& c) {
  SPINESCAN_CHECK_AS(c.threshold_rule == "half-best-f1" || c.threshold_rule == "best-f1", ConfigError,
                     "threshold rule: expected half-best-f1 or best-f1, got '", c.threshold_rule, "'");
  SPINESCAN_CHECK_AS(c.max_healthy_flag_rate > 0 && c.max_healthy_flag_rate <= 1, ConfigError,
                     "--max-healthy-flag-rate must be in (0, 1], got ", c.max_healthy_flag_rate);
  const bool within_source = classify::balance_from_string(c.balance) == classify::Balance::kWithinSource;
  const Splits splits = Splits::load(c.split);
  const int num_folds = static_cast<int>(splits.folds.size());
  SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < num_folds, ConfigError, "--fold ", c.fold, " not in ", c.split);
  SPINESCAN_CHECK_AS(static_cast<int>(c.classifier_runs.size()) == num_folds, ConfigError, "--classifiers needs one run per fold (",
                     num_folds, "), in fold order; got ", c.classifier_runs.size(),
                     " (out-of-fold outputs only: a classifier never scores the cases it was trained on)");
  SPINESCAN_CHECK_AS(c.detector_runs.empty() || static_cast<int>(c.detector_runs.size()) == num_folds, ConfigError,
                     "--detectors needs one run per fold (", num_folds, "), in fold order; got ", c.detector_runs.size());
  // A bundle of another manifest version is refused before any work, also when the records are cached.
  const fs::path bundle_folder = resolve_bundle_folder(c.model);
  const nlohmann::json bundle_manifest = read_manifest(bundle_folder);
  check_manifest_version(bundle_manifest, bundle_folder.string());
  fs::create_directories(c.out);
  // Fold --fold's intensity model goes into the bundle and scores that fold's cases: fitted once.
  const nlohmann::json heldout_intensity_model =
      fold_intensity_model(load_dataset(c.data), splits.folds[static_cast<size_t>(c.fold)].train);
  std::vector<VertebraRecord> records =
      load_or_compute_records(c, c.data, fs::path(c.out) / "records.jsonl", splits, heldout_intensity_model);
  // --data's records come first; the numbers reported are theirs (records [0, data_records)).
  const size_t data_records = records.size();
  for (size_t k = 0; k < c.extra_data.size(); ++k)
    for (auto& r : load_or_compute_records(c, c.extra_data[k], fs::path(c.out) / ("records_extra" + std::to_string(k + 1) + ".jsonl"),
                                           splits, heldout_intensity_model))
      records.push_back(std::move(r));

  // Levels are not this stage's (`train levels` learns them): the records are named by the
  // bundle's level model, when it has one, for the level accuracy beside the verdicts.
  const std::optional<aggregate::LevelModel> level_model = bundle_level_model(bundle_manifest);
  if (level_model) levels::name_records(*level_model, &records);

  // The trees see the program's features but the dropped ones; the levels above read the full rows.
  std::vector<std::string> feature_names;
  for (const auto& name : aggregate::vertebra_feature_names())
    if (std::find(c.drop_features.begin(), c.drop_features.end(), name) == c.drop_features.end()) feature_names.push_back(name);
  for (const auto& name : c.drop_features)
    SPINESCAN_CHECK_AS(std::count(aggregate::vertebra_feature_names().begin(), aggregate::vertebra_feature_names().end(), name) == 1,
                       ConfigError, "--drop-features: '", name, "' is not one of the aggregator's features (docs/analyze.md)");
  const std::vector<size_t> columns = aggregate::feature_columns(feature_names);
  for (auto& r : records)
    if (!r.features.empty()) r.features = aggregate::select_columns(r.features, columns);

  aggregate::BoosterParams booster = c.booster;
  if (c.monotone_evidence) booster.monotone = aggregate::evidence_monotone_constraints(feature_names);
  std::vector<std::string> single_class_sources;
  const Rows all_train =
      training_rows(records, [&](const VertebraRecord& r) { return r.fold != c.fold; }, within_source, &single_class_sources);
  SPINESCAN_CHECK(!all_train.y.empty(), "no labelled vertebrae in the training folds");
  for (const auto& s : single_class_sources)
    log_warning("source " + s + " holds one class only: its rows keep weight 1, and its scanner can still be learnt");

  // Inner cross-validation over the training folds: out-of-fold aggregator scores for
  // the threshold and for the numbers; then the final model on all training folds.
  std::vector<double> aggregated(records.size(), 0.0);
  auto in_fold = [](int j) { return [j](const VertebraRecord& r) { return r.fold == j; }; };
  for (int j = 0; j < num_folds; ++j) {
    if (j == c.fold) continue;
    const Rows rows =
        training_rows(records, [&](const VertebraRecord& r) { return r.fold != j && r.fold != c.fold; }, within_source);
    SPINESCAN_CHECK(!rows.y.empty(), "no labelled vertebrae to train the aggregator for fold ", j);
    predict_found(aggregate::Booster::train(rows.x, rows.y, booster, rows.w), records, in_fold(j), &aggregated);
  }
  aggregate::Booster final_model = aggregate::Booster::train(all_train.x, all_train.y, booster, all_train.w);
  predict_found(final_model, records, in_fold(c.fold), &aggregated);

  // Thresholds from the training folds' out-of-fold scores (found vertebrae).
  // - The aggregator's output is a probability (logistic loss), and for calibrated
  //   probabilities the F1-optimal threshold is half the best achievable F1 (Lipton, Elkan
  //   and Naryanaswamy, "Optimal thresholding of classifiers to maximize F1", 2014). The best
  //   F1 over a few hundred out-of-fold vertebrae is a stable number; the score at which it
  //   is reached is not: it sits between two neighbouring vertebrae and moved from 0.33 to
  //   0.45 between phantom samples. `threshold_rule` "best-f1" keeps that score instead.
  // - The max over slices is not a vertebra probability (the max of many slice
  //   probabilities runs high), so its comparison threshold is its best-F1 score.
  auto train_scores = [&](const std::function<double(size_t)>& score) {
    std::pair<std::vector<double>, std::vector<int>> sy;
    for (size_t i = 0; i < records.size(); ++i)
      if (records[i].found && records[i].target >= 0 && records[i].fold != c.fold)
        sy.first.push_back(score(i)), sy.second.push_back(records[i].target);
    return sy;
  };
  const auto [agg_train, agg_train_y] = train_scores([&](size_t i) { return aggregated[i]; });
  const double best_f1_score = eval::best_f1_threshold(agg_train, agg_train_y);
  const double best_train_f1 = eval::binary_metrics(agg_train, agg_train_y, best_f1_score).f1;
  const double rule_threshold = c.threshold_rule == "best-f1" ? best_f1_score : 0.5 * best_train_f1;
  // The F1 rule alone flagged 43 % of the healthy-labelled bodies of each source in the
  // painted runs (docs/model_card.md); issue 18 bounds that share at the shipped threshold.
  double flag_rate_threshold = 0;
  if (c.max_healthy_flag_rate < 1) {
    std::vector<VertebraRecord> training;
    std::vector<double> training_scores;
    for (size_t i = 0; i < records.size(); ++i)
      if (records[i].fold != c.fold) training.push_back(records[i]), training_scores.push_back(aggregated[i]);
    flag_rate_threshold = threshold_for_healthy_flag_rate(training, training_scores, c.max_healthy_flag_rate);
  }
  const double threshold = std::max(rule_threshold, flag_rate_threshold);
  const auto [max_train, max_train_y] = train_scores([&](size_t i) { return records[i].max_probability; });
  const double max_threshold = eval::best_f1_threshold(max_train, max_train_y);

  std::vector<double> max_scores;
  for (const auto& r : records) max_scores.push_back(r.max_probability);
  auto report = [&](const std::function<bool(const VertebraRecord&)>& use) {
    std::vector<VertebraRecord> rs;
    std::vector<double> agg, mx;
    for (size_t i = 0; i < data_records; ++i)
      if (use(records[i])) rs.push_back(records[i]), agg.push_back(aggregated[i]), mx.push_back(max_scores[i]);
    nlohmann::json out = {{"aggregator", vertebra_metrics(rs, agg, threshold, c.bootstrap)},
                          {"max_over_slices", vertebra_metrics(rs, mx, max_threshold, c.bootstrap)},
                          {"healthy_flag_rate", healthy_flag_rate(rs, agg, threshold)}};
    if (level_model) out["levels"] = level_accuracy(rs);
    return out;
  };
  nlohmann::json by_source = nlohmann::json::object();
  std::map<std::string, bool> sources;
  for (size_t i = 0; i < data_records; ++i) sources[case_source(records[i].case_name)] = true;
  for (const auto& [source, unused] : sources)
    by_source[source] = report([&, s = source](const VertebraRecord& r) { return case_source(r.case_name) == s; });

  const auto gain = final_model.feature_gain(feature_names.size());
  nlohmann::json importance = nlohmann::json::object();
  for (size_t i = 0; i < gain.size(); ++i)
    if (gain[i] > 0) importance[feature_names[i]] = gain[i];

  const nlohmann::json metrics = {
      {"fold", c.fold},
      {"extra_data", c.extra_data},
      {"training_vertebrae", all_train.y.size()},
      {"notes", "end to end per vertebra: missed bodies count with probability 0, unknown labels skipped. all_folds: every "
                "case out of fold (classifier run j on fold j; aggregator from inner CV on the training folds, the final "
                "model on --fold). Reported on --data's records only; --extra-data's train the trees and set the thresholds. The detector is the bundle's: on cases it was trained on its boxes are better than on new ones."},
      {"thresholds", {{"aggregator", threshold},
                      {"aggregator_rule", c.threshold_rule},
                      {"aggregator_rule_threshold", rule_threshold},
                      {"max_healthy_flag_rate", c.max_healthy_flag_rate},
                      {"healthy_flag_rate_threshold", flag_rate_threshold},
                      {"aggregator_best_f1_score", best_f1_score},
                      {"aggregator_inner_cv_best_f1", best_train_f1},
                      {"max_over_slices", max_threshold}}},
      {"vertebrae_3d", vertebrae_found(records)},
      {"levels_named_by", level_model ? nlohmann::json(c.model) : nlohmann::json(nullptr)},
      {"heldout_fold", report([&](const VertebraRecord& r) { return r.fold == c.fold; })},
      {"all_folds", report([](const VertebraRecord&) { return true; })},
      {"by_source_all_folds", by_source},
      {"feature_gain", importance},
      {"booster", booster.to_json()},
      {"balance", c.balance}};

  AggregatorSpec spec;
  spec.features = feature_names;
  spec.intensity_model = heldout_intensity_model;
  spec.threshold = threshold;
  spec.provenance = {{"trained_by", std::string("spinescan ") + version() + " (" + git_revision() + ")"},
                     {"data", c.data}, {"extra_data", c.extra_data}, {"split", c.split}, {"fold", c.fold}, {"classifier_runs", c.classifier_runs},
                     {"detector_runs", c.detector_runs.empty() ? nlohmann::json(c.model) : nlohmann::json(c.detector_runs)},
                     {"training_vertebrae", all_train.y.size()}, {"booster", booster.to_json()},
                     {"balance", c.balance}, {"threshold_rule", c.threshold_rule},
                     {"max_healthy_flag_rate", c.max_healthy_flag_rate}};
  // The verdict's numbers travel with it; the level accuracy stays in metrics.json, since the
  // bundle's level model may be replaced later (`model add-levels`) without this stage.
  for (const char* set : {"heldout_fold", "all_folds"}) {
    spec.provenance[set] = metrics[set];
    spec.provenance[set].erase("levels");
  }
  final_model.save(fs::path(c.out) / spec.model_file);
  write_text_atomically(fs::path(c.out) / "aggregator_spec.json", spec.to_json().dump(2) + "\n");
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(fs::path(c.out) / "metrics.json", text);
  // Every record's out-of-fold scores, for measures the metrics do not hold (the healthy flag
  // rate on a source's own labels when the training labels were painted, scripts/painted_oof.py).
  std::ostringstream oof;
  oof << "case,label,truth_level,fold,target,found,aggregator,max_over_slices,threshold\n";
  for (size_t i = 0; i < data_records; ++i) {
    const auto& r = records[i];
    oof << csv_escape(r.case_name) << ',' << r.truth_label << ',' << csv_escape(r.truth_level) << ',' << r.fold << ',' << r.target
        << ',' << r.found << ',' << aggregated[i] << ',' << r.max_probability << ',' << threshold << '\n';
  }
  write_text_atomically(fs::path(c.out) / "out_of_fold.csv", oof.str());
  return text;
}

uint64_t add_aggregator_to_bundle(const std::string& run, const std::string& bundle) {
  const fs::path spec_file = fs::path(run) / "aggregator_spec.json";
  const AggregatorSpec spec = AggregatorSpec::from_json(read_json_file(spec_file, "an aggregator spec"));
  SPINESCAN_CHECK_AS(fs::exists(fs::path(bundle) / "manifest.json"), ConfigError, bundle, ": not a model bundle (no manifest.json)");
  // The bundle's manifest must be readable before anything is copied in: a corrupt one is an
  // error that leaves the folder as it was. Its level model is a section of its own and stays.
  read_manifest(bundle);
  const aggregate::Booster model = aggregate::Booster::load(fs::path(run) / spec.model_file);
  model.save(fs::path(bundle) / spec.model_file);
  write_manifest_section(bundle, "aggregator", spec.to_json());
  return fs::file_size(fs::path(bundle) / spec.model_file);
}

}  // namespace spinescan::pipeline
