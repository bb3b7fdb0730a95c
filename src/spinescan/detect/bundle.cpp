#include "spinescan/detect/bundle.h"

#include <torch/torch.h>

#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/progress.h"
#include "spinescan/core/version.h"
#include "spinescan/data/dataset.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/inference.h"

namespace fs = std::filesystem;

namespace spinescan::detect {

uint64_t add_detector_to_bundle(const fs::path& run_or_bundle, const fs::path& bundle, const fs::path& evaluation_metrics,
                                double linked_score) {
  LoadedDetector d = load_detector(run_or_bundle, torch::kCPU, /*for_inference=*/false);
  if (linked_score > 0) {
    SPINESCAN_CHECK_AS(linked_score <= d.spec.operating_score, ConfigError, "--linked-score ", linked_score,
                       " above the detector's operating score ", d.spec.operating_score);
    d.spec.linked_score = linked_score;
  }
  if (!evaluation_metrics.empty()) {
    std::ifstream in(evaluation_metrics);
    SPINESCAN_CHECK(in, evaluation_metrics.string(), ": cannot open");
    try {
      const auto m = nlohmann::json::parse(in);
      d.spec.provenance["heldout_evaluation"] = {{"cases", m.at("cases")},
                                                 {"operating_score", m.at("operating_score")},
                                                 {"linked_score", m.value("linked_score", m.at("operating_score"))},
                                                 {"detection", m.at("detection")},
                                                 {"detection_all_slices", m.at("detection_all_slices")}};
    } catch (const nlohmann::json::exception& e) {
      throw DataError(evaluation_metrics.string() + ": not a detector metrics file: " + e.what());
    }
  }
  d.spec.provenance["packed_by"] = std::string("spinescan ") + version() + " (" + git_revision() + ")";
  d.spec.provenance["weights_precision"] = "float16 (converted to float32 at load)";
  const fs::path source = resolve_bundle_folder(run_or_bundle);
  if (fs::exists(bundle) && fs::equivalent(source, bundle)) {
    // Re-packing a bundle's own detector (a new linked score, new metrics): its weights are
    // already the half-precision ones; rewriting them would only churn the file.
    write_manifest_section(bundle, "detector", d.spec.to_json("detector.pt"));
  } else {
    save_detector(d.net, d.spec, bundle, /*half_precision=*/true);
  }
  return fs::file_size(bundle / "detector.pt");
}

Int8Calibration calibrate_detector_int8(const fs::path& bundle_or_run, const fs::path& data, const std::vector<std::string>& cases) {
  SPINESCAN_CHECK_AS(!cases.empty(), ConfigError, "calibrate-int8 needs --cases: training cases of the detector");
  const fs::path folder = resolve_bundle_folder(bundle_or_run);
  const std::string weights = read_manifest(folder).at("detector").value("weights", "detector.pt");
  LoadedDetector d = load_detector(folder, torch::kCPU, /*for_inference=*/false);
  d.net->fold_batch_norms();  // the float net analyze runs, whatever the process's precision
  const Dataset dataset = load_dataset(data);
  SliceDataOptions options;
  options.canvas = d.spec.canvas;
  Progress progress("calibrate-int8 reading", static_cast<int64_t>(cases.size()), "cases");
  const auto slices = load_canvas_slices(dataset, cases, options, [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
  progress.finish();
  SPINESCAN_CHECK_AS(!slices.empty(), DataError, "calibrate-int8: the cases hold no slice");
  std::vector<std::vector<float>> stacked;
  const auto images = detector_inputs(slices, d.spec.canvas, stacked);
  std::vector<torch::Tensor> batches;  // as analyze batches them
  for (size_t start = 0; start < images.size(); start += kInferenceBatchSlices)
    batches.push_back(stack_images(images, start, std::min(images.size(), start + kInferenceBatchSlices), d.spec.canvas.size));
  d.net->calibrate_int8(batches);
  const auto ranges = d.net->int8_ranges();
  d.spec.int8 = {{"ranges", ranges},
                 {"calibration",
                  {{"cases", cases},
                   {"slices", slices.size()},
                   {"method", "minimum and maximum of the float forward (batch norms folded) at each quantization point"},
                   {"written_by", std::string("spinescan ") + version() + " (" + git_revision() + ")"}}}};
  write_manifest_section(folder, "detector", d.spec.to_json(weights));
  return {ranges.size(), slices.size()};
}

}  // namespace spinescan::detect
