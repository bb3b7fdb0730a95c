#pragma once
// Saving and loading the detector: a folder with manifest.json (its "detector" section: the
// model options, the canvas, the operating score, provenance) and the weights file it names.
// The shipped bundle stores weights in half precision (half the size, no measurable change
// in detections); training checkpoints keep float32.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "spinescan/detect/canvas.h"
#include "spinescan/detect/retinanet.h"
#include "spinescan/models/initial_weights.h"

namespace spinescan::detect {

struct DetectorSpec {
  RetinaNetOptions model;
  CanvasOptions canvas;
  double operating_score = 0.3;  // detections at or above this are reported
  // ... and those at or above this one that a neighbouring slice's reported box confirms
  // (detect/slice_linking.h); equal to operating_score in bundles made before linking.
  double linked_score = 0.3;
  nlohmann::json provenance;     // how it was trained, on what, its metrics
  // The 8-bit calibration of these weights (calibrate_detector_int8), or null: {"ranges": [[min,
  // max], ...] as RetinaNetImpl::int8_ranges gives them, "calibration": the cases and slices}.
  // Retraining writes a spec without it: ranges belong to the weights they were recorded with.
  nlohmann::json int8;
  nlohmann::json to_json(const std::string& weights_file) const;
  static DetectorSpec from_json(const nlohmann::json& j);
};

struct LoadedDetector {
  DetectorSpec spec;
  RetinaNet net{nullptr};
};

// Writes weights (float32 or float16) to `weights_path` atomically.
void save_weights(const torch::nn::Module& module, const std::filesystem::path& weights_path, bool half_precision);
// Loads weights by parameter/buffer name into `module` (converting dtype); throws
// ModelError naming the file on a missing or mis-shaped tensor.
void load_weights(torch::nn::Module& module, const std::filesystem::path& weights_path);
// A net (a TORCH_MODULE holder: RetinaNet, models::ConvNext) built from its options only to take
// the weights in `weights_path`: built under models::SkipInitialWeights, whose draws load_weights
// would overwrite at once, then loaded.
template <class Net, class Options>
Net load_net(const Options& options, const std::filesystem::path& weights_path) {
  Net net{nullptr};
  {
    models::SkipInitialWeights skip;
    net = Net(options);
  }
  load_weights(*net, weights_path);
  return net;
}

// Writes <folder>/manifest.json (merging into an existing one) and <folder>/detector.pt.
// Refuses a net whose batch norms were folded for inference (its weights are no longer the
// trained ones).
void save_detector(const RetinaNet& net, const DetectorSpec& spec, const std::filesystem::path& folder, bool half_precision);
// Accepts a bundle folder (manifest.json with a "detector" section) or a training run folder
// (its best/ bundle). Puts the network in eval mode on `device`; `for_inference` also folds its
// batch norms (faster, the same boxes; such a net cannot be saved again: pass false to re-pack)
// and puts it in the process's detector_precision() (core/threads.h); int8 needs the spec's
// 8-bit calibration (ModelError naming the command that writes it) and the CPU (ConfigError).
LoadedDetector load_detector(const std::filesystem::path& folder_or_run, const torch::Device& device = torch::kCPU,
                             bool for_inference = true);

}  // namespace spinescan::detect
