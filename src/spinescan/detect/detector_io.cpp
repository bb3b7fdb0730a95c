#include "spinescan/detect/detector_io.h"

#include <torch/torch.h>

#include <fstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/threads.h"
#include "spinescan/core/manifest.h"

namespace fs = std::filesystem;

namespace spinescan::detect {

nlohmann::json DetectorSpec::to_json(const std::string& weights_file) const {
  nlohmann::json canvas_json = {{"size", canvas.size}, {"pixel_mm", canvas.pixel_mm}};
  if (canvas.context_mm > 0) canvas_json["context_mm"] = canvas.context_mm;  // absent: one slice, as before it existed
  nlohmann::json j = {{"weights", weights_file},
          {"architecture", "RetinaNet, ResNet-18 + FPN backbone"},
          {"options", model.to_json()},
          {"canvas", canvas_json},
          {"input", canvas.context_mm > 0
                        ? "canonical sagittal slices at -context_mm, 0, +context_mm as three channels, per-slice robust "
                          "percentile normalisation (0.5/99.5 -> 0/1)"
                        : "canonical sagittal slice, per-slice robust percentile normalisation (0.5/99.5 -> 0/1)"},
          {"operating_score", operating_score},
          {"linked_score", linked_score},
          {"provenance", provenance}};
  if (!int8.is_null()) j["int8"] = int8;
  return j;
}

DetectorSpec DetectorSpec::from_json(const nlohmann::json& j) {
  DetectorSpec s;
  try {
    s.model = RetinaNetOptions::from_json(j.at("options"));
    s.canvas.size = j.at("canvas").at("size");
    s.canvas.pixel_mm = j.at("canvas").at("pixel_mm");
    s.canvas.context_mm = j.at("canvas").value("context_mm", 0.0);
    s.operating_score = j.at("operating_score");
    // Absent from bundles made before slice linking: they report what they reported then.
    s.linked_score = j.contains("linked_score") ? j.at("linked_score").get<double>() : s.operating_score;
    s.provenance = j.value("provenance", nlohmann::json::object());
    s.int8 = j.value("int8", nlohmann::json());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("detector manifest: ") + e.what());
  }
  SPINESCAN_CHECK_AS(s.operating_score > 0 && s.operating_score < 1 && s.linked_score > 0 && s.linked_score <= s.operating_score,
                     ModelError, "detector manifest: need 0 < linked_score <= operating_score < 1 (they are ", s.linked_score, " and ",
                     s.operating_score, ")");
  // The ranges themselves are checked against the net at load (RetinaNetImpl::set_int8_ranges).
  SPINESCAN_CHECK_AS(s.int8.is_null() || (s.int8.is_object() && s.int8.contains("ranges") && s.int8["ranges"].is_array()),
                     ModelError, "detector manifest: int8 holds no ranges array");
  s.canvas.validate();
  SPINESCAN_CHECK_AS(s.model.backbone.in_channels == s.canvas.channels(), ModelError, "detector manifest: the net reads ",
                     s.model.backbone.in_channels, " channel(s), its canvas gives ", s.canvas.channels());
  return s;
}

void save_weights(const torch::nn::Module& module, const fs::path& path, bool half_precision) {
  torch::serialize::OutputArchive archive;
  auto put = [&](const std::string& name, const torch::Tensor& t) {
    auto v = t.detach().to(torch::kCPU);
    if (half_precision && v.is_floating_point()) v = v.to(torch::kHalf);
    archive.write(name, v);
  };
  for (const auto& p : module.named_parameters()) put(p.key(), p.value());
  for (const auto& b : module.named_buffers()) put(b.key(), b.value());
  write_atomically(path, [&](const fs::path& tmp) { archive.save_to(tmp.string()); });
}

void load_weights(torch::nn::Module& module, const fs::path& path) {
  SPINESCAN_CHECK_AS(fs::is_regular_file(path), ModelError, path.string(), ": no weights file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw ModelError(path.string() + ": unreadable weights file: " + e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  auto take = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor stored;
    SPINESCAN_CHECK_AS(archive.try_read(name, stored), ModelError, path.string(), ": has no tensor '", name,
                       "' (weights of another architecture?)");
    SPINESCAN_CHECK_AS(stored.sizes() == target.sizes(), ModelError, path.string(), ": tensor '", name, "' has shape ",
                       stored.sizes(), ", the model expects ", target.sizes());
    target.copy_(stored);  // converts half-precision files in the same pass, no temporary
  };
  for (auto& p : module.named_parameters()) take(p.key(), p.value());
  for (auto& b : module.named_buffers()) take(b.key(), b.value());
}

void save_detector(const RetinaNet& net, const DetectorSpec& spec, const fs::path& folder, bool half_precision) {
  SPINESCAN_CHECK(!net->batch_norms_folded(), folder.string(), ": a detector folded for inference cannot be saved (load it with for_inference false)");
  fs::create_directories(folder);
  save_weights(*net, folder / "detector.pt", half_precision);
  write_manifest_section(folder, "detector", spec.to_json("detector.pt"));
}

LoadedDetector load_detector(const fs::path& folder_or_run, const torch::Device& device, bool for_inference) {
  const fs::path folder = resolve_bundle_folder(folder_or_run);
  const nlohmann::json manifest = read_manifest(folder);
  const fs::path manifest_path = folder / "manifest.json";
  SPINESCAN_CHECK_AS(manifest.contains("detector"), ModelError, manifest_path.string(), ": has no detector");
  LoadedDetector d;
  d.spec = DetectorSpec::from_json(manifest["detector"]);
  d.net = load_net<RetinaNet>(d.spec.model, folder / manifest["detector"].value("weights", "detector.pt"));
  d.net->to(device);
  d.net->eval();
  if (for_inference) {
    d.net->fold_batch_norms();
    if (detector_precision() == DetectorPrecision::kBFloat16) d.net->use_bfloat16();
    if (detector_precision() == DetectorPrecision::kInt8) {
      SPINESCAN_CHECK_AS(device.is_cpu(), ConfigError, "--detector-precision int8 runs on the CPU only");
      SPINESCAN_CHECK_AS(!d.spec.int8.is_null(), ModelError, manifest_path.string(),
                         ": the detector has no 8-bit calibration (spinescan model calibrate-int8 writes one)");
      d.net->set_int8_ranges(d.spec.int8.at("ranges"));
      d.net->quantize_int8();
    }
  }
  return d;
}

}  // namespace spinescan::detect
