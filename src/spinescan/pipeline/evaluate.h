#pragma once
// `spinescan evaluate`: the whole pipeline (analyze) on dataset cases, scored against their
// ground truth: detection, level names and per-vertebra classification end to end.
#include <functional>
#include <string>
#include <vector>

#include "spinescan/data/dataset.h"
#include "spinescan/eval/detection_metrics.h"
#include "spinescan/pipeline/analyze.h"
#include "spinescan/pipeline/truth.h"

namespace spinescan::pipeline {

// Runs `analyzer` on each case (records get `fold`); appends the detection slices when asked
// and hands each analysis to `on_case` (optional).
std::vector<VertebraRecord> analyze_cases(
    Analyzer& analyzer, const Dataset& dataset, const std::vector<std::string>& cases, int fold,
    std::vector<eval::SliceResult>* detection = nullptr,
    const std::function<void(size_t index, const std::string& case_name, const StudyAnalysis&)>& on_case = {});

struct PipelineEvalConfig {
  std::string data, model, out;
  std::vector<std::string> cases;  // explicit case list, or:
  std::string split;               // splits.json with --fold: its val cases
  int fold = 0;
  std::string device = "cpu";
  int reports = 3;                 // analyze reports (report.html) written for the first cases
  int bootstrap = 1000;
};

// Writes <out>/metrics.json, vertebrae.csv, cases.csv; returns metrics.json's text.
std::string evaluate_pipeline(const PipelineEvalConfig& config);

// Several evaluations as one, e.g. each fold's held-out cases judged by that fold's bundle:
// their vertebrae.csv rows pooled and scored at one threshold (every run's bundle must share
// it), so that the bootstrap intervals, the per-source flag rates and the calibration are
// read on all their vertebrae at once. A case may appear in one run only.
struct PoolEvalConfig {
  std::vector<std::string> runs;  // folders written by evaluate_pipeline
  std::string data;               // optional: the painted dataset, for recall per lesion
  std::string out;
  int bootstrap = 1000;
  // Each run's vertebrae judged at its own bundle's threshold (five folds, each with its own
  // aggregator): the counts, F1 and flag rates are those of the verdicts the runs made; the AUC
  // and calibration read the pooled probabilities. Without it, differing thresholds are refused.
  bool per_run_thresholds = false;
};
// Writes <out>/metrics.json (the verdict part of evaluate's: classification.vertebra, by_source,
// healthy_flag_rate_by_source, recall_by_lesion, calibration, vertebrae_3d, refused,
// verdicts_withheld), vertebrae.csv (with a run column) and calibration.svg; returns metrics.json's text.
std::string pool_evaluations(const PoolEvalConfig& config);

}  // namespace spinescan::pipeline
