#include "spinescan/pipeline/evaluate.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/splits.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/pipeline/end_to_end.h"
#include "spinescan/pipeline/report.h"

namespace spinescan::pipeline {

namespace fs = std::filesystem;

std::vector<VertebraRecord> analyze_cases(
    Analyzer& analyzer, const Dataset& dataset, const std::vector<std::string>& cases, int fold,
    std::vector<eval::SliceResult>* detection,
    const std::function<void(size_t index, const std::string& case_name, const StudyAnalysis&)>& on_case) {
  std::vector<VertebraRecord> out;
  Progress progress("analyze", static_cast<int64_t>(cases.size()), "cases");
  for (size_t i = 0; i < cases.size(); ++i) {
    const LoadedStudy study = load_study(dataset.case_named(cases[i]).image);
    const StudyAnalysis a = analyzer.analyze(study);
    const CaseTruth truth = load_case_truth(dataset, cases[i]);
    for (auto& r : vertebra_records(a, truth, cases[i])) {
      r.fold = fold;
      out.push_back(std::move(r));
    }
    if (detection)
      for (auto& s : detection_slices(a, truth, cases[i])) detection->push_back(std::move(s));
    if (on_case) on_case(i, cases[i], a);
    progress.update(static_cast<int64_t>(i + 1));
  }
  progress.finish();
  return out;
}

std::string evaluate_pipeline(const PipelineEvalConfig& c) {
  SPINESCAN_CHECK_AS(!c.data.empty() && !c.out.empty(), ConfigError, "evaluate needs --data and --out");
  const Dataset dataset = load_dataset(c.data);
  std::vector<std::string> cases = c.cases;
  if (!c.split.empty() && cases.empty()) {
    const Splits s = Splits::load(c.split);
    SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(s.folds.size()), ConfigError, "--fold ", c.fold, " not in ", c.split);
    cases = s.folds[static_cast<size_t>(c.fold)].val;
  }
  SPINESCAN_CHECK_AS(!cases.empty(), ConfigError, "no cases to evaluate: give --cases or --split with --fold");

  AnalyzerOptions options;
  options.device = c.device;
  Analyzer analyzer(c.model, options);
  std::vector<eval::SliceResult> detection;
  // Written whole or not at all: a case that cannot be read stops the run and leaves no
  // folder behind. An earlier evaluation in --out is replaced; any other folder is left alone.
  const fs::path target(c.out);
  if (fs::exists(target))
    SPINESCAN_CHECK_AS(fs::is_directory(target) && (fs::is_empty(target) || fs::exists(target / "metrics.json")), ConfigError, c.out,
                       ": exists and holds no earlier evaluation (metrics.json); choose another --out");
  StagedDirectory staged(target, /*overwrite=*/true);
  const fs::path out = staged.path();
  fs::create_directories(out / "reports");
  // A few full reports, to look at what the numbers mean.
  // Which cases the fitness checks refused (pipeline/fitness.h), and the column each showed:
  // a real lumbar study refused is a failure of those checks, counted here.
  nlohmann::json refused = nlohmann::json::array(), columns = nlohmann::json::object();
  // Which studies the out-of-distribution check left unjudged (their bodies count with
  // probability 0 below), so that a drop in recall is not read as the classifier's.
  nlohmann::json withheld = nlohmann::json::array();
  auto write_some_reports = [&](size_t index, const std::string& name, const StudyAnalysis& a) {
    if (!a.refusal.empty()) refused.push_back({{"case", name}, {"reason", a.refusal}});
    if (a.verdicts_withheld) withheld.push_back(name);
    columns[name] = a.column.to_json();
    if (static_cast<int>(index) < c.reports) write_report(out / "reports" / name, a, analyzer.model_description());
  };
  std::vector<VertebraRecord> records =
      analyze_cases(analyzer, dataset, cases, c.split.empty() ? -1 : c.fold, &detection, write_some_reports);

  const nlohmann::json model = analyzer.model_description();
  std::vector<double> final_p, max_p;
  for (const auto& r : records) final_p.push_back(r.probability), max_p.push_back(r.max_probability);
  const double threshold = model.value("threshold", 0.5);
  const auto det = eval::summarize_detection(detection, 0.0);
  nlohmann::json metrics = {
      {"cases", cases},
      {"model", model},
      {"detection",
       {{"mean_iou", det.mean_iou}, {"mean_iou_pathological", det.mean_iou_pathological}, {"recall_at_50", det.recall_at_50},
        {"precision_at_50", det.precision_at_50}, {"ap50_operating_point", det.ap50}, {"false_positives_per_slice", det.false_positives_per_slice},
        {"num_slices", det.num_slices}, {"num_truth", det.num_truth},
        {"note", "per slice, the boxes the detector reports (at its operating score, or linked across slices at its linked score; AP over those, so lower than `evaluate detector`'s)"}}},
      {"vertebrae_3d", vertebrae_found(records)},
      {"levels", level_accuracy(records)},
      {"classification",
       {{"vertebra", vertebra_metrics(records, final_p, threshold, c.bootstrap)},
        {"vertebra_max_over_slices", vertebra_metrics(records, max_p, model.value("classifier_threshold", 0.5), c.bootstrap)}}},
      {"probability_source", analyzer.has_aggregator() ? "aggregator" : analyzer.has_classifier() ? "classifier (max over slices)" : "none"},
      {"notes", "end to end: a ground-truth body no track matched counts with probability 0; rows with unknown labels are skipped"}};
  // Per source as well: pooled numbers over sites can measure the scanner (docs/classifier.md).
  std::map<std::string, std::vector<VertebraRecord>> by_source;
  std::map<std::string, std::vector<double>> by_source_p;
  for (const auto& r : records) {
    by_source[case_source(r.case_name)].push_back(r);
    by_source_p[case_source(r.case_name)].push_back(r.probability);
  }
  for (const auto& [source, rs] : by_source) {
    metrics["by_source"][source] = vertebra_metrics(rs, by_source_p[source], threshold, c.bootstrap);
    metrics["healthy_flag_rate_by_source"][source] = healthy_flag_rate(rs, by_source_p[source], threshold);
  }
  const auto lesions = read_lesion_index(dataset.root);
  if (!lesions.empty()) metrics["recall_by_lesion"] = recall_by_lesion(records, final_p, threshold, lesions);
  const auto reliability = calibration_bins(records, final_p);
  metrics["calibration"] = calibration_json(reliability);
  metrics["refused"] = refused;
  metrics["verdicts_withheld"] = withheld;
  metrics["column_by_case"] = columns;

  std::ostringstream v;
  v << "case,truth_label,truth_level,target,found,level,level_confidence,probability,max_probability,evidence_slice\n";
  std::map<std::string, std::array<int, 4>> per_case;  // truth, found, flagged, extra
  for (const auto& r : records) {
    v << csv_escape(r.case_name) << ',' << r.truth_label << ',' << r.truth_level << ',' << r.target << ',' << r.found << ',' << r.level
      << ',' << r.level_confidence << ',' << r.probability << ',' << r.max_probability << ',' << r.evidence_slice << '\n';
    auto& pc = per_case[r.case_name];
    pc[0] += r.truth_label != 0;
    pc[1] += r.found && r.truth_label != 0;
    pc[2] += r.found && r.probability >= threshold;
    pc[3] += r.found && r.truth_label == 0;
  }
  std::ostringstream cs;
  cs << "case,truth_bodies,found,flagged,extra_tracks\n";
  nlohmann::json case_rows = nlohmann::json::array();
  for (const auto& [name, pc] : per_case) {
    cs << csv_escape(name) << ',' << pc[0] << ',' << pc[1] << ',' << pc[2] << ',' << pc[3] << '\n';
    case_rows.push_back({{"case", name}, {"truth_bodies", pc[0]}, {"found", pc[1]}, {"flagged", pc[2]}, {"extra_tracks", pc[3]}});
  }
  metrics["per_case"] = case_rows;
  write_text_atomically(out / "vertebrae.csv", v.str());
  write_text_atomically(out / "cases.csv", cs.str());
  write_text_atomically(out / "calibration.svg",
                        eval::reliability_svg(reliability, "Reliability per vertebra, end to end"));
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(out / "metrics.json", text);
  staged.commit();
  return text;
}

}  // namespace spinescan::pipeline
