#include "spinescan/classify/classifier.h"

#include "spinescan/classify/bundle.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/version.h"
#include "spinescan/detect/detector_io.h"

namespace fs = std::filesystem;

namespace spinescan::classify {

nlohmann::json convnext_options_to_json(const models::ConvNextOptions& o) {
  nlohmann::json j = {{"in_channels", o.in_channels}, {"num_classes", o.num_classes},        {"depths", o.depths},
          {"dims", o.dims},               {"drop_path_rate", o.drop_path_rate}, {"layer_scale_init", o.layer_scale_init},
          {"head_dropout", o.head_dropout}};
  // Only when set, so that bundles written before the option read back byte for byte the same.
  if (o.max_pool_stage >= 0) j["max_pool_stage"] = o.max_pool_stage;
  return j;
}

models::ConvNextOptions convnext_options_from_json(const nlohmann::json& j) {
  models::ConvNextOptions o;
  o.in_channels = j.at("in_channels");
  o.num_classes = j.at("num_classes");
  o.depths = j.at("depths").get<std::array<int, 4>>();
  o.dims = j.at("dims").get<std::array<int, 4>>();
  o.drop_path_rate = j.at("drop_path_rate");
  o.layer_scale_init = j.at("layer_scale_init");
  o.head_dropout = j.value("head_dropout", 0.0);
  o.max_pool_stage = j.value("max_pool_stage", -1);
  o.validate();
  return o;
}

nlohmann::json ClassifierSpec::to_json(const std::string& weights_file) const {
  return {{"weights", weights_file},
          {"architecture", "ConvNeXt"},
          {"preset", preset},
          {"options", convnext_options_to_json(model)},
          {"crop", {{"size", crop.size}, {"context", crop.context}, {"neighbours", crop.neighbours}}},
          {"input", "crop around a body box on the canonical sagittal slice, per-slice robust percentile normalisation"},
          {"calibration", {{"scale", calibration_scale}, {"bias", calibration_bias}}},
          {"threshold", threshold},
          {"provenance", provenance}};
}

ClassifierSpec ClassifierSpec::from_json(const nlohmann::json& j) {
  ClassifierSpec s;
  try {
    s.preset = j.value("preset", "");
    s.model = convnext_options_from_json(j.at("options"));
    s.crop.size = j.at("crop").at("size");
    s.crop.context = j.at("crop").at("context");
    s.crop.neighbours = j.at("crop").at("neighbours");
    s.calibration_scale = j.at("calibration").at("scale");
    s.calibration_bias = j.at("calibration").at("bias");
    s.threshold = j.at("threshold");
    s.provenance = j.value("provenance", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("classifier manifest: ") + e.what());
  }
  s.crop.validate();
  SPINESCAN_CHECK_AS(s.model.in_channels == s.crop.channels(), ModelError, "classifier manifest: the model takes ",
                     s.model.in_channels, " channels but the crop makes ", s.crop.channels());
  return s;
}

double ClassifierSpec::probability(double logit) const {
  return 1 / (1 + std::exp(-(calibration_scale * logit + calibration_bias)));
}

void save_classifier(const models::ConvNext& net, const ClassifierSpec& spec, const fs::path& folder, bool half_precision) {
  fs::create_directories(folder);
  detect::save_weights(*net, folder / "classifier.pt", half_precision);
  write_manifest_section(folder, "classifier", spec.to_json("classifier.pt"));
}

LoadedClassifier load_classifier(const fs::path& folder_or_run, const torch::Device& device) {
  const fs::path folder = resolve_bundle_folder(folder_or_run);
  const nlohmann::json manifest = read_manifest(folder);
  SPINESCAN_CHECK_AS(manifest.contains("classifier"), ModelError, (folder / "manifest.json").string(), ": has no classifier");
  LoadedClassifier c;
  c.spec = ClassifierSpec::from_json(manifest["classifier"]);
  c.net = detect::load_net<models::ConvNext>(c.spec.model, folder / manifest["classifier"].value("weights", "classifier.pt"));
  c.net->to(device);
  c.net->eval();
  return c;
}

namespace {
// One batched pass over the crops; `embeddings` null: logits only.
std::vector<double> run_classifier(models::ConvNext& net, const std::vector<std::vector<float>>& crops, const CropOptions& crop,
                                   const torch::Device& device, int batch_size, std::vector<std::vector<float>>* embeddings) {
  torch::NoGradGuard no_grad;
  const bool was_training = net->is_training();
  net->eval();
  std::vector<double> out;
  out.reserve(crops.size());
  const int64_t c = crop.channels(), s = crop.size;
  for (size_t start = 0; start < crops.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(crops.size(), start + static_cast<size_t>(batch_size));
    auto batch = torch::empty({static_cast<int64_t>(end - start), c, s, s});
    for (size_t i = start; i < end; ++i) {
      SPINESCAN_CHECK(static_cast<int64_t>(crops[i].size()) == c * s * s, "classifier: crop ", i, " has the wrong size");
      std::memcpy(batch[static_cast<int64_t>(i - start)].data_ptr<float>(), crops[i].data(), sizeof(float) * crops[i].size());
    }
    torch::Tensor logits;
    if (embeddings) {
      const auto pooled = net->features(batch.to(device));
      logits = net->logits_of(pooled);
      const auto rows = pooled.to(torch::kCPU).to(torch::kFloat).contiguous();
      const int64_t dims = rows.size(1);
      const float* f = rows.data_ptr<float>();
      for (int64_t i = 0; i < rows.size(0); ++i) embeddings->emplace_back(f + i * dims, f + (i + 1) * dims);
    } else {
      logits = net->forward(batch.to(device));
    }
    logits = logits.to(torch::kCPU).to(torch::kDouble).view({-1});
    const double* p = logits.data_ptr<double>();
    out.insert(out.end(), p, p + logits.size(0));
  }
  if (was_training) net->train();
  return out;
}
}  // namespace

std::vector<double> classifier_logits(models::ConvNext& net, const std::vector<std::vector<float>>& crops,
                                      const CropOptions& crop, const torch::Device& device, int batch_size) {
  return run_classifier(net, crops, crop, device, batch_size, nullptr);
}

ClassifierOutputs classifier_outputs(models::ConvNext& net, const std::vector<std::vector<float>>& crops, const CropOptions& crop,
                                     const torch::Device& device, int batch_size) {
  ClassifierOutputs out;
  out.embeddings.reserve(crops.size());
  out.logits = run_classifier(net, crops, crop, device, batch_size, &out.embeddings);
  return out;
}

std::vector<double> sample_logits(models::ConvNext& net, const ClassifierData& data, const CropOptions& crop,
                                  const torch::Device& device) {
  std::vector<double> out;
  out.reserve(data.samples.size());
  // In chunks, so a large evaluation never holds every crop at once.
  const size_t chunk = 1024;
  for (size_t start = 0; start < data.samples.size(); start += chunk) {
    std::vector<std::vector<float>> crops;
    for (size_t i = start; i < std::min(data.samples.size(), start + chunk); ++i) {
      const auto& s = data.samples[i];
      crops.push_back(extract_crop(data.cases[static_cast<size_t>(s.case_index)].normalized, s.slice, s.box, crop));
    }
    const auto logits = classifier_logits(net, crops, crop, device);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

std::pair<double, double> fit_platt(const std::vector<double>& logits, const std::vector<int>& labels) {
  SPINESCAN_CHECK(logits.size() == labels.size() && !logits.empty(), "calibration: need logits with labels");
  // Newton's method on two parameters with a little ridge toward (1, 0) so that a
  // validation set with one class, or separable data, still gives a finite answer.
  double a = 1, b = 0;
  const double ridge = 1e-3 * static_cast<double>(logits.size());
  for (int it = 0; it < 50; ++it) {
    double ga = ridge * (a - 1), gb = ridge * b, haa = ridge, hab = 0, hbb = ridge;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double z = a * logits[i] + b, p = 1 / (1 + std::exp(-z)), r = p - labels[i], w = p * (1 - p);
      ga += r * logits[i];
      gb += r;
      haa += w * logits[i] * logits[i];
      hab += w * logits[i];
      hbb += w;
    }
    const double det = haa * hbb - hab * hab;
    if (!(det > 1e-12)) break;
    const double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
    a -= da;
    b -= db;
    if (std::abs(da) + std::abs(db) < 1e-9) break;
  }
  return {a, b};
}


uint64_t add_classifier_to_bundle(const fs::path& run_or_bundle, const fs::path& bundle, const fs::path& evaluation_metrics,
                                  const fs::path& study_best) {
  LoadedClassifier c = load_classifier(run_or_bundle);
  if (!evaluation_metrics.empty()) {
    const auto m = read_json_file(evaluation_metrics, "a classifier metrics file");
    SPINESCAN_CHECK_AS(m.contains("classification") && m.contains("cases"), DataError, evaluation_metrics.string(),
                       ": not a classifier metrics file");
    c.spec.provenance["heldout_evaluation"] = {{"cases", m["cases"]},
                                               {"boxes", m.value("boxes", "")},
                                               {"threshold", m.value("threshold", 0.0)},
                                               {"classification", m["classification"]},
                                               {"calibration", m.value("calibration", nlohmann::json::object())}};
  }
  if (!study_best.empty()) c.spec.provenance["tuning"] = read_json_file(study_best, "a study's best.json");
  c.spec.provenance["packed_by"] = std::string("spinescan ") + version() + " (" + git_revision() + ")";
  c.spec.provenance["weights_precision"] = "float16 (converted to float32 at load)";
  // An out-of-distribution reference on the old classifier's features means nothing for the
  // new one: dropped first, so that a bundle is valid at every step (train ood refits it).
  nlohmann::json manifest = fs::exists(bundle / "manifest.json") ? read_manifest(bundle) : nlohmann::json::object();
  if (manifest.contains("ood") && manifest["ood"].is_object() && manifest["ood"].contains("classifier_embedding")) {
    manifest["ood"].erase("classifier_embedding");
    write_manifest_section(bundle, "ood", manifest["ood"]);
  }
  save_classifier(c.net, c.spec, bundle, /*half_precision=*/true);
  return fs::file_size(bundle / "classifier.pt");
}

}  // namespace spinescan::classify
