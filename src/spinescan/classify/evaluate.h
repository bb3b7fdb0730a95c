#pragma once
// `spinescan evaluate classifier`: the classifier on the ground-truth boxes of held-out cases
// (the detector is measured on its own; `spinescan evaluate` measures the whole chain).
// Writes metrics.json with classification.{slice,vertebra_max,vertebra_mean}.{accuracy,
// precision,recall,f1,auc}, predictions.csv (per vertebra), slices.csv (per slice), roc.svg
// and calibration.svg. With `baseline`, the model is a logistic regression on intensity
// statistics (classify/baseline.h) fitted on the fold's training cases instead.
#include <string>
#include <vector>

namespace spinescan::classify {

struct ClassifierEvalConfig {
  std::string data, model, out;
  std::vector<std::string> cases;  // explicit case list, or:
  std::string split;               // splits.json with --fold: its val cases
  int fold = 0;
  std::string device = "cpu";
  bool baseline = false;           // needs split/fold (trained on the fold's train cases)
};

// Returns metrics.json's text.
std::string evaluate_classifier(const ClassifierEvalConfig& config);

}  // namespace spinescan::classify
