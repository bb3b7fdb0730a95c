#pragma once
// Adding a trained classifier to a model bundle (no torch types, so the CLI can include it).
#include <cstdint>
#include <filesystem>

namespace spinescan::classify {

// Copies the classifier of `run_or_bundle` into `bundle` in half precision, recording the
// evaluation metrics (metrics.json of `spinescan evaluate classifier`) and, when given, the
// tuning summary. An out-of-distribution reference fitted on the old classifier's features
// ("ood" / "classifier_embedding") is dropped. Returns the weights file size in bytes.
uint64_t add_classifier_to_bundle(const std::filesystem::path& run_or_bundle, const std::filesystem::path& bundle,
                                  const std::filesystem::path& evaluation_metrics = {},
                                  const std::filesystem::path& study_best = {});

}  // namespace spinescan::classify
