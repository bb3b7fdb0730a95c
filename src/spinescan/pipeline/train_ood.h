#pragma once
// `spinescan train ood`: the out-of-distribution reference (aggregate/ood.h) of a bundle,
// fitted on the appearance features of the vertebrae the bundle finds in a fold's training
// cases, and every case of the dataset scored against it (held-out cases, and cases of
// sources left out of the fit, are the check that it means something). `model add-ood` puts
// it into a bundle's manifest ("ood").
#include <string>
#include <vector>

namespace spinescan::pipeline {

struct OodTrainConfig {
  std::string data, split, model, out;
  int fold = 0;
  // Fit on training cases of these sources only (case_source; empty: all), to see
  // whether a source left out scores as unfamiliar.
  std::vector<std::string> sources;
  double margin = 1.5;  // threshold = margin x the highest training-study score
  std::string device = "cpu";
};

// Writes <out>/ood.json (the reference) and <out>/metrics.json (every case's score, by set
// and source); returns metrics.json's text.
std::string train_ood(const OodTrainConfig& config);

void add_ood_to_bundle(const std::string& run, const std::string& bundle);

}  // namespace spinescan::pipeline
