#pragma once
// The model bundle (models/default/): manifest.json plus one weights file per stage. This
// adds a trained detector to a bundle in half precision, with its held-out metrics.
#include <filesystem>
#include <string>

namespace spinescan::detect {

// Copies the detector of `run_or_bundle` into `bundle` (half precision), recording the
// evaluation metrics file (metrics.json of `spinescan evaluate detector`) when given.
// `linked_score` (> 0) sets the score at which a box a neighbouring slice confirms is kept
// (detect/slice_linking.h); otherwise the detector's own stays. Returns the weights file size in bytes.
uint64_t add_detector_to_bundle(const std::filesystem::path& run_or_bundle, const std::filesystem::path& bundle,
                                const std::filesystem::path& evaluation_metrics = {}, double linked_score = -1);

}  // namespace spinescan::detect
