#include "spinescan/levels/train_levels.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <filesystem>
#include <functional>

#include "spinescan/aggregate/features.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/version.h"
#include "spinescan/data/splits.h"
#include "spinescan/pipeline/analyze.h"
#include "spinescan/pipeline/end_to_end.h"
#include "spinescan/pipeline/evaluate.h"
#include "spinescan/levels/level_examples.h"
#include "spinescan/levels/level_net.h"
#include "spinescan/eval/classification_metrics.h"

namespace spinescan::levels {

using namespace pipeline;  // the analyzer and its records, which the level model is measured on

namespace fs = std::filesystem;

namespace {

// The lowest body's level cues by name (what the rule could have used, and the level net's
// logit where there is one).
nlohmann::json cue_values(const std::vector<std::string>& names, const std::vector<double>& values) {
  auto shown = aggregate::level_cue_feature_names();
  const auto& relative = aggregate::lowest_relative_cue_names();
  shown.insert(shown.end(), relative.begin(), relative.end());
  const auto columns = aggregate::LevelModel::columns(shown, names, values);  // NaN (null) where absent
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < shown.size(); ++i) out[shown[i]] = columns[i];
  return out;
}

// The level net's readings of a case's lowest found body, and whether analyze would warn of a
// possible transitional vertebra (LevelNet::indecisive; one of the signs of levels/decision.h).
struct NetReading {
  LowestBodyReading reading;
  bool transitional_warning = false;
};
using Readings = std::map<std::string, NetReading>;  // by case

// Per case: what the lowest found body is, what each model says, the head's probability for
// the other level, the cue values it saw and the level net's two readings.
nlohmann::json lowest_decisions(const std::vector<VertebraRecord>& records, const aggregate::LevelModel& model,
                                const std::optional<aggregate::LevelModel>& bundle_model, const Readings& readings) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [name, rs] : group_by_case(records)) {
    const LowestFound lowest = lowest_found(rs);
    if (!lowest.record) continue;
    nlohmann::json row = {{"case", name},
                          {"truth", lowest.true_level},
                          {"said", lowest_level_of_case(model, rs)}};
    if (bundle_model) row["said_by_bundle"] = lowest_level_of_case(*bundle_model, rs);
    const auto cues = lowest_cues(lowest);
    const double p = model.alternative_probability(cues.names, cues.values);
    if (p >= 0) row["p_alternative"] = p;
    if (p >= 0 && model.score_head.fitted()) row["p_alternative_image_only"] = model.alternative_probability(cues.names, cues.values, false);
    row["cues"] = cue_values(cues.names, cues.values);
    if (const auto it = readings.find(name); it != readings.end())
      row["level_net"] = {{"direct", it->second.reading.direct},  // NaN: null
                          {"projected", it->second.reading.projected},
                          {"transitional_warning", it->second.transitional_warning}};
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json compare(std::vector<VertebraRecord> records, const aggregate::LevelModel& model,
                       std::optional<aggregate::LevelModel> bundle_model, const Readings& readings) {
  // The records' level net logits are the new net's: the bundle's model is scored without a
  // net (its image head in its place), not with another net's logits.
  if (bundle_model) bundle_model->level_net = nullptr;
  nlohmann::json out;
  out["lowest"] = lowest_decisions(records, model, bundle_model, readings);
  if (bundle_model) {
    name_records(*bundle_model, &records);
    out["bundle_levels"] = level_accuracy(records);
  }
  // The same model without its parts, on the same vertebrae: what each part adds.
  aggregate::LevelModel usual_only = model;
  usual_only.alternative_level.clear();
  name_records(usual_only, &records);
  out["usual_level_only"] = level_accuracy(records);
  if (!model.level_net.is_null()) {
    aggregate::LevelModel without_net = model;
    without_net.level_net = nullptr;
    name_records(without_net, &records);
    out["without_level_net"] = level_accuracy(records);
  }
  if (model.score_head.fitted()) {
    aggregate::LevelModel image_only = model;
    image_only.score_head = {};
    image_only.score_cues.clear();
    name_records(image_only, &records);
    out["image_head_only"] = level_accuracy(records);
  }
  name_records(model, &records);
  out["levels"] = level_accuracy(records);
  return out;
}

// How well the level net tells the held-out cases' lowest labelled body from the box one step
// below it (ground truth; the detector's boxes are scored by the level model's metrics).
nlohmann::json level_net_on_ground_truth(const LevelNet& net, const classify::ClassifierData& heldout) {
  std::vector<double> logits;
  std::vector<int> below;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t ci = 0; ci < heldout.cases.size(); ++ci) {
    const auto pair = lowest_and_below(heldout, ci);
    if (!pair) continue;
    const auto& v = heldout.cases[ci].normalized;
    const double lowest = net.logit(v, pair->lowest);
    const double under = pair->below_inside ? net.logit(v, pair->below) : std::nan("");  // as in training
    rows.push_back({{"case", heldout.cases[ci].name}, {"lowest_labelled", lowest}, {"one_step_below", under}});
    for (const auto& [l, y] : {std::pair{lowest, 0}, std::pair{under, 1}})
      if (std::isfinite(l)) logits.push_back(l), below.push_back(y);
  }
  int right = 0;
  for (size_t i = 0; i < logits.size(); ++i) right += (logits[i] > 0) == (below[i] == 1);
  return {{"heldout_ground_truth", rows}, {"auc", eval::roc_auc(logits, below)},
          {"accuracy", logits.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(logits.size())}};
}

// Records of `cases` read by `detector` (a run or bundle) with the bundle's other stages,
// cached under c.records_cache by what they were computed from.
std::vector<VertebraRecord> case_records(const LevelTrainConfig& c, const Dataset& dataset, const std::string& detector,
                                         const std::vector<std::string>& cases, int fold) {
  const nlohmann::json manifest = read_manifest(resolve_bundle_folder(c.model));
  const nlohmann::json::json_pointer intensity_at("/aggregator/intensity_model");
  const nlohmann::json intensity = manifest.contains(intensity_at) ? manifest.at(intensity_at) : nlohmann::json();
  const nlohmann::json key = {{"records_version", kRecordsVersion},
                              {"data", fs::weakly_canonical(c.data).string()},
                              {"cases", cases},
                              {"fold", fold},
                              {"detector", model_key(detector, "detector")},
                              {"classifier", model_key(c.model, "classifier")},
                              {"intensity_model", std::to_string(std::hash<std::string>{}(intensity.dump()))},
                              {"features", aggregate::vertebra_feature_names()}};
  const fs::path file = fs::path(c.records_cache.empty() ? c.out : c.records_cache) /
                        ("records_" + std::to_string(std::hash<std::string>{}(key.dump())) + ".jsonl");
  return cached_records(file, key, [&] {
    AnalyzerOptions options;
    options.device = c.device;
    options.detector = detector;
    options.use_aggregator = false;  // only the boxes, their tracks and features are needed
    Analyzer analyzer(c.model, options);
    return analyze_cases(analyzer, dataset, cases, fold);
  });
}

}  // namespace

std::string train_levels(const LevelTrainConfig& c) {
  const Dataset dataset = load_dataset(c.data);
  const Splits splits = Splits::load(c.split);
  SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(splits.folds.size()), ConfigError, "--fold ", c.fold, " not in ", c.split);
  const fs::path bundle_folder = resolve_bundle_folder(c.model);
  const nlohmann::json manifest = read_manifest(bundle_folder);
  check_bundle_manifest(manifest, bundle_folder.string());
  const std::optional<aggregate::LevelModel> bundle_model = bundle_level_model(manifest);  // the comparison, when there is one
  fs::create_directories(c.out);
  const auto& fold = splits.folds[static_cast<size_t>(c.fold)];

  log_info("ground-truth examples from " + std::to_string(fold.train.size()) + " training cases");
  const classify::ClassifierData train_data = classify::load_classifier_data(dataset, fold.train);
  const LowestLevelExamples examples = ground_truth_lowest_examples(train_data);
  const int num_folds = static_cast<int>(splits.folds.size());
  SPINESCAN_CHECK_AS(c.detector_runs.empty() || static_cast<int>(c.detector_runs.size()) == num_folds, ConfigError,
                     "--detectors needs one run per fold (", num_folds, "), in fold order; got ", c.detector_runs.size());
  std::vector<VertebraRecord> train_records, heldout_records;
  if (c.detector_runs.empty()) {
    log_info("the bundle's detector on the training cases (the level model's confidence)");
    train_records = case_records(c, dataset, c.model, fold.train, -1);
    log_info("the bundle's detector on the held-out cases of fold " + std::to_string(c.fold));
    heldout_records = case_records(c, dataset, c.model, fold.val, c.fold);
  } else {
    // The other folds' held-out cases are this fold's training cases (a split's folds partition its cases).
    for (int j = 0; j < num_folds; ++j) {
      log_info("detector " + c.detector_runs[static_cast<size_t>(j)] + " on the held-out cases of fold " + std::to_string(j));
      auto records = case_records(c, dataset, c.detector_runs[static_cast<size_t>(j)], splits.folds[static_cast<size_t>(j)].val, j);
      auto& into = j == c.fold ? heldout_records : train_records;
      for (auto& r : records) into.push_back(std::move(r));
    }
  }

  nlohmann::json net_description, net_metrics;
  Readings readings;
  if (c.level_net_steps > 0) {
    LevelNetOptions options;
    options.steps = c.level_net_steps;
    options.seed = c.seed;
    options.device = c.device;
    const LevelNet net = LevelNet::train(train_data, options, fs::path(c.out) / "level_net_run", c.resume);
    net.save(fs::path(c.out) / "level_net.pt");
    net_description = {{"weights", "level_net.pt"}, {"spec", net.spec()}};
    log_info("level net: reading the lowest found body of every case");
    const classify::ClassifierData heldout = classify::load_classifier_data(dataset, fold.val);
    std::map<std::string, const Volume<float>*> volume_of;
    for (const auto* d : {&train_data, &heldout})
      for (const auto& k : d->cases) volume_of[k.name] = &k.normalized;
    for (auto* records : {&train_records, &heldout_records}) {
      std::map<std::string, std::map<int, VertebraRecord*>> found;  // by case, by place from the bottom
      for (auto& r : *records)
        if (r.found) found[r.case_name][r.from_bottom] = &r;
      for (auto& [name, by_place] : found) {
        if (!volume_of.count(name) || !by_place.count(0)) continue;
        std::vector<aggregate::Track> column;  // superior -> inferior
        for (auto it = by_place.rbegin(); it != by_place.rend(); ++it) column.push_back(it->second->track);
        const LowestBodyReading reading = net.read_lowest(*volume_of[name], column);
        readings[name] = {reading, net.indecisive(reading.logit())};
        by_place[0]->level_net_logit = reading.logit();
      }
    }
    net_metrics = level_net_on_ground_truth(net, heldout);
  }
  aggregate::LevelModel model = learn_levels(train_records, fold.train, examples, c.below_rate, net_description);
  if (!net_description.is_null()) {
    net_metrics["description"] = net_description;
    net_metrics["used_by_the_head"] = !model.level_net.is_null();
    if (model.level_net.is_null())
      log_warning("the level net is not used: the level model picks between " + model.lowest_level + " and " +
                  (model.alternative_level.empty() ? std::string("nothing") : model.alternative_level) +
                  ", not the body below " + model.lowest_level + " (the question the net answers)");
  }
  nlohmann::json spec = model.to_json();
  spec["provenance"] = {{"trained_by", std::string("spinescan ") + version() + " (" + git_revision() + ")"},
                        {"data", c.data}, {"split", c.split}, {"fold", c.fold}, {"detector_bundle", c.model},
                        {"detector_runs", c.detector_runs.empty() ? nlohmann::json(c.model) : nlohmann::json(c.detector_runs)},
                        {"examples", "ground truth per training case: the lowest labelled body, the one above it, a box one vertebral step below it"},
                        {"num_examples", examples.levels.size()}};
  nlohmann::json example_rows = nlohmann::json::array();
  for (size_t i = 0; i < examples.levels.size(); ++i)
    example_rows.push_back({{"case", examples.cases[i]}, {"level", examples.levels[i]}, {"cues", cue_values(aggregate::vertebra_feature_names(), examples.features[i])}});
  const nlohmann::json heldout = compare(heldout_records, model, bundle_model, readings);
  // What the model goes into a bundle with: its level accuracy on the fold's held-out cases.
  spec["provenance"]["heldout_fold"] = heldout["levels"];
  const nlohmann::json metrics = {{"fold", c.fold},
                                  {"levels_model", spec},
                                  {"bundle_levels_model", bundle_model ? bundle_model->to_json() : nlohmann::json(nullptr)},
                                  {"heldout_fold", heldout},
                                  {"training_cases", compare(train_records, model, bundle_model, readings)},
                                  {"ground_truth_examples", example_rows},
                                  {"level_net", net_metrics}};
  write_text_atomically(fs::path(c.out) / "levels.json", spec.dump(2) + "\n");
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(fs::path(c.out) / "metrics.json", text);
  return text;
}

void add_levels_to_bundle(const std::string& run, const std::string& bundle) {
  const nlohmann::json levels = read_json_file(fs::path(run) / "levels.json", "a level model");
  SPINESCAN_CHECK_AS(levels.is_object() && levels.contains("lowest_level"), ConfigError, run,
                     "/levels.json: not a level model (no lowest_level)");
  read_manifest(bundle);  // an existing, valid manifest: never a fresh one in its place
  // It must read as a level model (a version 1 rule does not) before anything is copied in.
  bundle_level_model(nlohmann::json{{"levels", levels}});
  const auto& head = levels.value("head", nlohmann::json::object());
  if (head.contains("level_net")) {
    const std::string weights = head["level_net"].at("weights");
    const fs::path from = fs::path(run) / weights;
    SPINESCAN_CHECK_AS(fs::exists(from), ConfigError, from.string(), ": the level net's weights are missing");
    const fs::path to = fs::path(bundle) / weights, partial = fs::path(bundle) / (weights + ".partial");
    fs::copy_file(from, partial, fs::copy_options::overwrite_existing);
    fs::rename(partial, to);
  }
  write_manifest_section(bundle, "levels", levels);
}

}  // namespace spinescan::levels
