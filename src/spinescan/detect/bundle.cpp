#include "spinescan/detect/bundle.h"

#include <torch/torch.h>

#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/version.h"
#include "spinescan/detect/detector_io.h"

namespace fs = std::filesystem;

namespace spinescan::detect {

uint64_t add_detector_to_bundle(const fs::path& run_or_bundle, const fs::path& bundle, const fs::path& evaluation_metrics) {
  LoadedDetector d = load_detector(run_or_bundle);
  if (!evaluation_metrics.empty()) {
    std::ifstream in(evaluation_metrics);
    SPINESCAN_CHECK(in, evaluation_metrics.string(), ": cannot open");
    try {
      const auto m = nlohmann::json::parse(in);
      d.spec.provenance["heldout_evaluation"] = {{"cases", m.at("cases")},
                                                 {"operating_score", m.at("operating_score")},
                                                 {"detection", m.at("detection")},
                                                 {"detection_all_slices", m.at("detection_all_slices")}};
    } catch (const nlohmann::json::exception& e) {
      throw DataError(evaluation_metrics.string() + ": not a detector metrics file: " + e.what());
    }
  }
  d.spec.provenance["packed_by"] = std::string("spinescan ") + version() + " (" + git_revision() + ")";
  d.spec.provenance["weights_precision"] = "float16 (converted to float32 at load)";
  save_detector(d.net, d.spec, bundle, /*half_precision=*/true);
  return fs::file_size(bundle / "detector.pt");
}

}  // namespace spinescan::detect
