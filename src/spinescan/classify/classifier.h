#pragma once
// The trained vertebra classifier: a ConvNeXt on crops, its crop recipe, the calibration of
// its logit (Platt scaling fitted on validation cases: training draws both classes equally
// often, which moves the logit by the log prior ratio) and its operating threshold. Stored
// in a bundle's manifest.json "classifier" section beside classifier.pt.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/classify/crops.h"
#include "spinescan/classify/samples.h"
#include "spinescan/models/convnext.h"

namespace spinescan::classify {

struct ClassifierSpec {
  std::string preset = "atto";
  models::ConvNextOptions model;
  CropOptions crop;
  double calibration_scale = 1, calibration_bias = 0;  // p = sigmoid(scale * logit + bias)
  // Operating point on the calibrated per-vertebra maximum over slices.
  double threshold = 0.5;
  nlohmann::json provenance = nlohmann::json::object();
  nlohmann::json to_json(const std::string& weights_file) const;
  static ClassifierSpec from_json(const nlohmann::json& j);
  double probability(double logit) const;
};

nlohmann::json convnext_options_to_json(const models::ConvNextOptions& o);
models::ConvNextOptions convnext_options_from_json(const nlohmann::json& j);

struct LoadedClassifier {
  ClassifierSpec spec;
  models::ConvNext net{nullptr};
};

void save_classifier(const models::ConvNext& net, const ClassifierSpec& spec, const std::filesystem::path& folder,
                     bool half_precision);
// A bundle folder or a training run (its best/). The network is in eval mode on `device`.
LoadedClassifier load_classifier(const std::filesystem::path& folder_or_run, const torch::Device& device = torch::kCPU);

// Logits for crops (each channels * size * size floats), batched, without gradients.
std::vector<double> classifier_logits(models::ConvNext& net, const std::vector<std::vector<float>>& crops,
                                      const CropOptions& crop, const torch::Device& device, int batch_size = 64);

// The logits and, from the same forward pass, the pooled features the head reads (one row
// of dims[3] values per crop): what the network itself makes of a crop, which the
// out-of-distribution check compares with the training vertebrae's (aggregate/ood.h).
struct ClassifierOutputs {
  std::vector<double> logits;
  std::vector<std::vector<float>> embeddings;
};
ClassifierOutputs classifier_outputs(models::ConvNext& net, const std::vector<std::vector<float>>& crops, const CropOptions& crop,
                                     const torch::Device& device, int batch_size = 64);

// Logits of every sample of `data` (crops without jitter).
std::vector<double> sample_logits(models::ConvNext& net, const ClassifierData& data, const CropOptions& crop,
                                  const torch::Device& device);

// Platt scaling: the (scale, bias) minimising the log loss of sigmoid(scale * logit + bias).
std::pair<double, double> fit_platt(const std::vector<double>& logits, const std::vector<int>& labels);

}  // namespace spinescan::classify
