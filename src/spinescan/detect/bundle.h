#pragma once
// The model bundle (models/default/): manifest.json plus one weights file per stage. This
// adds a trained detector to a bundle in half precision, with its held-out metrics.
#include <filesystem>
#include <string>
#include <vector>

namespace spinescan::detect {

// Copies the detector of `run_or_bundle` into `bundle` (half precision), recording the
// evaluation metrics file (metrics.json of `spinescan evaluate detector`) when given.
// `linked_score` (> 0) sets the score at which a box a neighbouring slice confirms is kept
// (detect/slice_linking.h); otherwise the detector's own stays. Returns the weights file size in bytes.
uint64_t add_detector_to_bundle(const std::filesystem::path& run_or_bundle, const std::filesystem::path& bundle,
                                const std::filesystem::path& evaluation_metrics = {}, double linked_score = -1);

struct Int8Calibration {
  size_t points = 0;  // quantization points of the net, one range each
  size_t slices = 0;  // slices the float forward ran over
};

// Records the 8-bit ranges of the detector in `bundle_or_run` (its best/ bundle for a run) over
// every slice of `cases` of the dataset at `data` (RetinaNetImpl::calibrate_int8), and stores them
// with the case names in its manifest's detector section, replacing earlier ones; the weights
// stay as they are. `--detector-precision int8` reads them. Choose training cases of the
// detector: `evaluate` refuses to score the cases a calibration saw.
Int8Calibration calibrate_detector_int8(const std::filesystem::path& bundle_or_run, const std::filesystem::path& data,
                                        const std::vector<std::string>& cases);

}  // namespace spinescan::detect
