#pragma once
// `spinescan evaluate detector`: detection metrics on held-out cases, per-case rows and
// overlay PNGs (ground truth green, detections orange with their score).
#include <string>
#include <vector>

namespace spinescan::detect {

struct LoadedDetector;  // detector_io.h

struct DetectorEvalConfig {
  std::string data, model, out;
  std::vector<std::string> cases;  // explicit case list, or:
  std::string split;               // splits.json with --fold: its val cases
  int fold = 0;
  int overlays = 6;                // overlay PNGs to write (middle slices of the first cases)
  std::string device = "cpu";
  double operating_score = -1;     // < 0: the model's own
  double linked_score = -1;        // < 0: the model's own (slice_linking.h)
};

// When the detector runs in 8 bits: the cases its ranges were recorded on, refused (ConfigError)
// if any is among `evaluated` (a calibration that saw the scored slices would flatter it).
// Empty otherwise. Both evaluations record it in metrics.json.
std::vector<std::string> int8_calibration_cases_not_evaluated(const LoadedDetector& detector,
                                                              const std::vector<std::string>& evaluated);

// Writes <out>/metrics.json and <out>/overlays/*.png; returns metrics.json's text.
std::string evaluate_detector(const DetectorEvalConfig& config);

}  // namespace spinescan::detect
