#include "spinescan/pipeline/evaluate.h"

#include <filesystem>
#include <iomanip>
#include <map>
#include <optional>
#include <sstream>

#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/splits.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/pipeline/end_to_end.h"
#include "spinescan/pipeline/report.h"

namespace spinescan::pipeline {

namespace fs = std::filesystem;

namespace {

constexpr const char* kEndToEndNote =
    "end to end: a ground-truth body no track matched counts with probability 0; rows with unknown labels are skipped";
constexpr const char* kVertebraeCsvHeader =
    "case,truth_label,truth_level,target,found,level,level_confidence,probability,max_probability,evidence_slice";

// The verdict part of the metrics, over the records' final probabilities: the vertebra metrics
// overall and per source, the scanner-shortcut measure per source (pooled numbers over sites
// can measure the scanner, docs/classifier.md), recall per painted lesion, the calibration
// and the bodies found. Returns the reliability bins for the plot.
std::vector<eval::ReliabilityBin> add_verdict_metrics(nlohmann::json& metrics, const std::vector<VertebraRecord>& records,
                                                      const OperatingPoint& threshold,
                                                      const std::map<std::pair<std::string, int>, PaintedBody>& lesions,
                                                      int bootstrap) {
  std::vector<double> final_p;
  for (const auto& r : records) final_p.push_back(r.probability);
  metrics["classification"]["vertebra"] = vertebra_metrics(records, final_p, threshold, bootstrap);
  std::map<std::string, std::vector<size_t>> by_source;  // indices into records
  for (size_t i = 0; i < records.size(); ++i) by_source[case_source(records[i].case_name)].push_back(i);
  for (const auto& [source, indices] : by_source) {
    std::vector<VertebraRecord> rs;
    std::vector<double> ps;
    for (size_t i : indices) rs.push_back(records[i]), ps.push_back(final_p[i]);
    const OperatingPoint source_threshold = threshold.subset(indices);
    metrics["by_source"][source] = vertebra_metrics(rs, ps, source_threshold, bootstrap);
    metrics["healthy_flag_rate_by_source"][source] = healthy_flag_rate(rs, ps, source_threshold);
  }
  if (!lesions.empty()) metrics["recall_by_lesion"] = recall_by_lesion(records, final_p, threshold, lesions);
  auto reliability = calibration_bins(records, final_p);
  metrics["calibration"] = calibration_json(reliability);
  metrics["vertebrae_3d"] = vertebrae_found(records);
  return reliability;
}

// An earlier evaluation in `target` may be replaced; any other folder is left alone.
void check_replaceable_evaluation(const fs::path& target) {
  if (fs::exists(target))
    SPINESCAN_CHECK_AS(fs::is_directory(target) && (fs::is_empty(target) || fs::exists(target / "metrics.json")), ConfigError,
                       target.string(), ": exists and holds no earlier evaluation (metrics.json); choose another --out");
}

// One line of vertebrae.csv (kVertebraeCsvHeader); probabilities to 10 digits, so that a pool
// of evaluations (pool_evaluations) reads back the ranks and flags that were measured.
std::string vertebrae_csv_row(const VertebraRecord& r) {
  std::ostringstream v;
  v << csv_escape(r.case_name) << ',' << r.truth_label << ',' << r.truth_level << ',' << r.target << ',' << r.found << ',' << r.level
    << ',' << r.level_confidence << ',' << std::setprecision(10) << r.probability << ',' << r.max_probability
    << std::setprecision(6) << ',' << r.evidence_slice;
  return v.str();
}

}  // namespace

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
  const auto int8_calibration_cases = analyzer.int8_calibration_cases_not_evaluated(cases);
  std::vector<eval::SliceResult> detection;
  // Written whole or not at all: a case that cannot be read stops the run and leaves no
  // folder behind. An earlier evaluation in --out is replaced; any other folder is left alone.
  const fs::path target(c.out);
  check_replaceable_evaluation(target);
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
  std::vector<double> max_p;
  for (const auto& r : records) max_p.push_back(r.max_probability);
  const double threshold = model.value("threshold", 0.5);
  const auto det = eval::summarize_detection(detection, 0.0);
  nlohmann::json metrics = {
      {"cases", cases},
      {"model", model},
      {"int8_calibration_cases", int8_calibration_cases},
      {"detection",
       {{"mean_iou", det.mean_iou}, {"mean_iou_pathological", det.mean_iou_pathological}, {"recall_at_50", det.recall_at_50},
        {"precision_at_50", det.precision_at_50}, {"ap50_operating_point", det.ap50}, {"false_positives_per_slice", det.false_positives_per_slice},
        {"num_slices", det.num_slices}, {"num_truth", det.num_truth},
        {"note", "per slice, the boxes the detector reports (at its operating score, or linked across slices at its linked score; AP over those, so lower than `evaluate detector`'s)"}}},
      {"levels", level_accuracy(records)},
      {"probability_source", analyzer.has_aggregator() ? "aggregator" : analyzer.has_classifier() ? "classifier (max over slices)" : "none"},
      {"notes", kEndToEndNote}};
  const auto reliability = add_verdict_metrics(metrics, records, threshold, read_lesion_index(dataset.root), c.bootstrap);
  metrics["classification"]["vertebra_max_over_slices"] =
      vertebra_metrics(records, max_p, model.value("classifier_threshold", 0.5), c.bootstrap);
  metrics["refused"] = refused;
  metrics["verdicts_withheld"] = withheld;
  metrics["column_by_case"] = columns;

  std::ostringstream v;
  v << kVertebraeCsvHeader << '\n';
  std::map<std::string, std::array<int, 4>> per_case;  // truth, found, flagged, extra
  for (const auto& r : records) {
    v << vertebrae_csv_row(r) << '\n';
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

namespace {

// The records of one evaluation folder, as vertebrae.csv holds them.
std::vector<VertebraRecord> read_vertebrae_csv(const fs::path& path) {
  const auto rows = read_csv_file(path);
  SPINESCAN_CHECK(!rows.empty() && csv_line(rows.front()) == std::string(kVertebraeCsvHeader) + "\n", path.string(),
                  ": not an evaluation's vertebrae.csv (header must be ", kVertebraeCsvHeader, ")");
  std::vector<VertebraRecord> out;
  for (size_t i = 1; i < rows.size(); ++i) {
    const CsvRow& row = rows[i];
    SPINESCAN_CHECK(row.size() == 10, path.string(), ": line ", i + 1, " has ", row.size(), " fields, expected 10");
    try {
      VertebraRecord r;
      r.case_name = row[0];
      r.truth_label = std::stoi(row[1]);
      r.truth_level = row[2];
      r.target = std::stoi(row[3]);
      r.found = std::stoi(row[4]) != 0;
      r.level = row[5];
      r.level_confidence = std::stod(row[6]);
      r.probability = std::stod(row[7]);
      r.max_probability = std::stod(row[8]);
      r.evidence_slice = std::stoi(row[9]);
      out.push_back(std::move(r));
    } catch (const std::logic_error&) {
      throw DataError(path.string() + ": line " + std::to_string(i + 1) + " holds a field that is not a number");
    }
  }
  return out;
}

}  // namespace

std::string pool_evaluations(const PoolEvalConfig& c) {
  SPINESCAN_CHECK_AS(c.runs.size() >= 1 && !c.out.empty(), ConfigError, "evaluate pool needs evaluation folders and --out");
  std::vector<VertebraRecord> records;
  std::ostringstream v;
  v << "run," << kVertebraeCsvHeader << '\n';
  nlohmann::json refused = nlohmann::json::array(), withheld = nlohmann::json::array(), cases = nlohmann::json::array(),
                 models = nlohmann::json::array();
  std::map<std::string, std::string> run_of_case;
  std::optional<double> threshold;
  std::vector<double> run_thresholds;  // per record, for per_run_thresholds
  for (const std::string& run : c.runs) {
    const fs::path dir(run);
    const fs::path metrics_path = dir / "metrics.json";
    SPINESCAN_CHECK_AS(fs::is_regular_file(metrics_path), ConfigError, run, ": no metrics.json (not a folder written by `spinescan evaluate`)");
    const nlohmann::json m = read_json_file(metrics_path, "an evaluation's metrics.json");
    SPINESCAN_CHECK(m.contains("model") && m["model"].contains("threshold"), metrics_path.string(), ": no model.threshold");
    const double t = m["model"]["threshold"].get<double>();
    // One operating point for the pool unless each run is to be judged at its own: an F1 over
    // verdicts made at different thresholds describes no one model, only the set of runs.
    SPINESCAN_CHECK_AS(c.per_run_thresholds || !threshold || std::abs(*threshold - t) < 1e-12, ConfigError, run, ": threshold ", t,
                       " differs from the first run's ", *threshold,
                       "; pool runs of bundles that share the aggregator, or give --per-run-thresholds");
    threshold = t;
    for (auto& r : read_vertebrae_csv(dir / "vertebrae.csv")) {
      const auto [it, inserted] = run_of_case.emplace(r.case_name, run);
      // The bootstrap resamples cases: the same case twice would be counted as two patients.
      SPINESCAN_CHECK_AS(inserted || it->second == run, ConfigError, "case ", r.case_name, " is in both ", it->second, " and ", run);
      if (inserted) cases.push_back(r.case_name);
      v << csv_escape(run) << ',' << vertebrae_csv_row(r) << '\n';
      records.push_back(std::move(r));
      run_thresholds.push_back(t);
    }
    for (const auto& x : m.value("refused", nlohmann::json::array())) refused.push_back(x);
    for (const auto& x : m.value("verdicts_withheld", nlohmann::json::array())) withheld.push_back(x);
    models.push_back({{"run", run}, {"model", m["model"]}});
  }
  SPINESCAN_CHECK(!records.empty(), "the pooled evaluations hold no vertebra");
  const OperatingPoint operating_point = c.per_run_thresholds ? OperatingPoint::per_record(run_thresholds) : OperatingPoint(*threshold);
  nlohmann::json metrics = {{"runs", models},
                            {"cases", cases},
                            {"threshold", operating_point.to_json()},
                            {"refused", refused},
                            {"verdicts_withheld", withheld},
                            {"notes", std::string(kEndToEndNote) + "; pooled over the runs' vertebrae.csv " +
                                          (c.per_run_thresholds ? "with each run's verdicts at its own model.threshold"
                                                                : "at one threshold")}};
  const auto lesions = c.data.empty() ? std::map<std::pair<std::string, int>, PaintedBody>{} : read_lesion_index(c.data);
  SPINESCAN_CHECK_AS(c.data.empty() || !lesions.empty(), ConfigError, c.data, ": holds no lesions.csv (a `synth lesions` dataset is needed for recall per lesion)");
  const auto reliability = add_verdict_metrics(metrics, records, operating_point, lesions, c.bootstrap);

  const fs::path target(c.out);
  check_replaceable_evaluation(target);
  StagedDirectory staged(target, /*overwrite=*/true);
  write_text_atomically(staged.path() / "vertebrae.csv", v.str());
  write_text_atomically(staged.path() / "calibration.svg",
                        eval::reliability_svg(reliability, "Reliability per vertebra, end to end, pooled"));
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(staged.path() / "metrics.json", text);
  staged.commit();
  return text;
}

}  // namespace spinescan::pipeline
