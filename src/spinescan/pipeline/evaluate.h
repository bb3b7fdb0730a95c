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

}  // namespace spinescan::pipeline
