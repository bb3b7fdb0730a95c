#include "spinescan/classify/evaluate.h"

#include <torch/torch.h>

#include <set>
#include <sstream>

#include "spinescan/classify/baseline.h"
#include "spinescan/classify/classifier.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/inference.h"
#include "spinescan/eval/classification_metrics.h"

namespace fs = std::filesystem;

namespace spinescan::classify {
namespace {

struct Scored {
  std::vector<double> p;
  std::vector<int> y;
};

// Samples / vertebrae with a known label, of one source ("" = all).
Scored known_slices(const ClassifierData& data, const std::vector<double>& p, const std::string& source) {
  Scored s;
  for (size_t i = 0; i < p.size(); ++i)
    if (data.samples[i].target >= 0 &&
        (source.empty() || case_source(data.cases[static_cast<size_t>(data.samples[i].case_index)].name) == source)) {
      s.p.push_back(p[i]);
      s.y.push_back(data.samples[i].target);
    }
  return s;
}

std::pair<Scored, Scored> known_vertebrae(const std::vector<VertebraScore>& vertebrae, const std::string& source) {
  Scored max, mean;
  for (const auto& v : vertebrae)
    if (v.target >= 0 && (source.empty() || case_source(v.case_name) == source)) {
      max.p.push_back(v.max_probability);
      max.y.push_back(v.target);
      mean.p.push_back(v.mean_probability);
      mean.y.push_back(v.target);
    }
  return {max, mean};
}

std::vector<double> baseline_probabilities(const ClassifierData& train, const ClassifierData& eval, double* threshold,
                                           nlohmann::json* description) {
  const LogisticRegression model = fit_intensity_model(train);
  // Threshold as for the ConvNeXt: best F1 of the per-vertebra maximum, here on the
  // training cases (the baseline has nothing to overfit with).
  std::vector<double> train_p;
  size_t labelled = 0;
  for (const auto& s : train.samples) {
    train_p.push_back(model.predict(intensity_features(train.cases[static_cast<size_t>(s.case_index)].normalized, s.slice, s.box)));
    labelled += s.target >= 0;
  }
  const auto [vmax, vmean] = known_vertebrae(aggregate_per_vertebra(train, train_p), "");
  *threshold = eval::best_f1_threshold(vmax.p, vmax.y);
  *description = {{"name", "logistic regression on intensity statistics"},
                  {"features", intensity_feature_names()},
                  {"model", model.to_json()},
                  {"training_slices", labelled}};
  std::vector<double> p;
  for (const auto& s : eval.samples)
    p.push_back(model.predict(intensity_features(eval.cases[static_cast<size_t>(s.case_index)].normalized, s.slice, s.box)));
  return p;
}

}  // namespace

std::string evaluate_classifier(const ClassifierEvalConfig& c) {
  const Dataset dataset = load_dataset(c.data);
  std::vector<std::string> cases = c.cases, train_cases;
  if (!c.split.empty()) {
    const Splits s = Splits::load(c.split);
    SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(s.folds.size()), ConfigError, "--fold ", c.fold, " not in ",
                       c.split);
    if (cases.empty()) cases = s.folds[static_cast<size_t>(c.fold)].val;
    train_cases = s.folds[static_cast<size_t>(c.fold)].train;
  }
  SPINESCAN_CHECK_AS(!c.baseline || !train_cases.empty(), ConfigError, "--baseline needs --split and --fold (it is fitted on the fold's train cases)");
  SPINESCAN_CHECK_AS(c.baseline || !c.model.empty(), ConfigError, "--model is required (or --baseline)");
  if (cases.empty())
    for (const auto& e : dataset.cases) cases.push_back(e.name);

  Progress progress("load", static_cast<int64_t>(cases.size() + (c.baseline ? train_cases.size() : 0)), "cases");
  const ClassifierData data = load_classifier_data(dataset, cases, {}, [&](size_t d, size_t) {
    progress.update(static_cast<int64_t>(d));
  });
  std::vector<double> p;
  double threshold = 0.5;
  nlohmann::json model_description;
  if (c.baseline) {
    const ClassifierData train = load_classifier_data(dataset, train_cases, {}, [&](size_t d, size_t) {
      progress.update(static_cast<int64_t>(cases.size() + d));
    });
    progress.finish();
    p = baseline_probabilities(train, data, &threshold, &model_description);
  } else {
    progress.finish();
    const torch::Device device = detect::parse_device(c.device);
    LoadedClassifier classifier = load_classifier(c.model, device);
    const auto logits = sample_logits(classifier.net, data, classifier.spec.crop, device);
    for (double l : logits) p.push_back(classifier.spec.probability(l));
    threshold = classifier.spec.threshold;
    model_description = {{"name", "ConvNeXt-" + classifier.spec.preset}, {"path", c.model}, {"crop", classifier.spec.to_json("")["crop"]}};
  }

  const auto vertebrae = aggregate_per_vertebra(data, p);
  const Scored slices = known_slices(data, p, "");
  const auto [vmax, vmean] = known_vertebrae(vertebrae, "");
  SPINESCAN_CHECK_AS(!slices.p.empty(), DataError, "no vertebra with a known label in the evaluated cases");
  const auto slice_m = eval::binary_metrics(slices.p, slices.y, threshold);
  const auto max_m = eval::binary_metrics(vmax.p, vmax.y, threshold);
  const auto mean_m = eval::binary_metrics(vmean.p, vmean.y, threshold);
  const auto slice_bins = eval::reliability_bins(slices.p, slices.y);
  const auto max_bins = eval::reliability_bins(vmax.p, vmax.y);
  // The same per source: where sources differ in scanner and in prevalence, the pooled AUC
  // can come from telling them apart (see samples.h).
  nlohmann::json by_source = nlohmann::json::object();
  std::set<std::string> sources;
  for (const auto& name : cases) sources.insert(case_source(name));
  for (const auto& source : sources) {
    const Scored ss = known_slices(data, p, source);
    const auto [smax, smean] = known_vertebrae(vertebrae, source);
    if (ss.p.empty()) continue;
    by_source[source] = {{"slice", eval::binary_metrics(ss.p, ss.y, threshold).to_json()},
                         {"vertebra_max", eval::binary_metrics(smax.p, smax.y, threshold).to_json()},
                         {"vertebra_mean", eval::binary_metrics(smean.p, smean.y, threshold).to_json()}};
  }

  nlohmann::json per_case = nlohmann::json::array();
  for (const auto& name : cases) {
    int n = 0, pos = 0, flagged = 0;
    for (const auto& v : vertebrae)
      if (v.case_name == name && v.target >= 0) {
        ++n;
        pos += v.target;
        flagged += v.max_probability >= threshold;
      }
    per_case.push_back({{"case", name}, {"vertebrae", n}, {"pathological", pos}, {"flagged", flagged}});
  }
  const nlohmann::json metrics = {
      {"model", model_description},
      {"data", c.data},
      {"cases", cases},
      {"boxes", "ground truth"},
      {"threshold", threshold},
      {"classification", {{"slice", slice_m.to_json()}, {"vertebra_max", max_m.to_json()}, {"vertebra_mean", mean_m.to_json()}}},
      {"by_source", by_source},
      {"calibration",
       {{"slice_ece", eval::expected_calibration_error(slice_bins)},
        {"vertebra_max_ece", eval::expected_calibration_error(max_bins)}}},
      {"per_case", per_case}};

  const fs::path out(c.out);
  fs::create_directories(out);
  std::ostringstream vcsv, scsv;
  vcsv << "case,label,level,target,slices,max_probability,mean_probability,evidence_slice\n";
  for (const auto& v : vertebrae)
    vcsv << v.case_name << "," << v.label << "," << v.level << "," << (v.target >= 0 ? std::to_string(v.target) : "") << ","
         << v.slices << "," << v.max_probability << "," << v.mean_probability << "," << v.evidence_slice << "\n";
  scsv << "case,label,slice,target,probability\n";
  for (size_t i = 0; i < p.size(); ++i) {
    const auto& s = data.samples[i];
    scsv << data.cases[static_cast<size_t>(s.case_index)].name << "," << s.label << "," << s.slice << ","
         << (s.target >= 0 ? std::to_string(s.target) : "") << "," << p[i] << "\n";
  }
  write_text_atomically(out / "predictions.csv", vcsv.str());
  write_text_atomically(out / "slices.csv", scsv.str());
  const std::string name = model_description.value("name", "model");
  write_text_atomically(out / "roc.svg",
                        eval::roc_svg({{"slice", eval::roc_curve(slices.p, slices.y), slice_m.auc},
                                       {"vertebra (max)", eval::roc_curve(vmax.p, vmax.y), max_m.auc},
                                       {"vertebra (mean)", eval::roc_curve(vmean.p, vmean.y), mean_m.auc}},
                                      "ROC: " + name + ", " + std::to_string(cases.size()) + " cases"));
  write_text_atomically(out / "calibration.svg",
                        eval::reliability_svg(slice_bins, "Reliability per slice: " + name));
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(out / "metrics.json", text);
  return text;
}

}  // namespace spinescan::classify
