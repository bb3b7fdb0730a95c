#pragma once
// `spinescan evaluate detector`: detection metrics on held-out cases, per-case rows and
// overlay PNGs (ground truth green, detections orange with their score).
#include <string>
#include <vector>

namespace spinescan::detect {

struct DetectorEvalConfig {
  std::string data, model, out;
  std::vector<std::string> cases;  // explicit case list, or:
  std::string split;               // splits.json with --fold: its val cases
  int fold = 0;
  int overlays = 6;                // overlay PNGs to write (middle slices of the first cases)
  std::string device = "cpu";
  double operating_score = -1;     // < 0: the model's own
  double linked_score = -1;        // < 0: the model's own (slice_linking.h)
  // A probe (docs/benchmarks.md): when set, the backbone runs in 8-bit integers, calibrated on
  // the slices of these cases (none of them evaluated).
  std::vector<std::string> int8_calibration_cases;
  bool int8_whole_detector = false;  // with them: the FPN and heads in 8 bits too
};

// Writes <out>/metrics.json and <out>/overlays/*.png; returns metrics.json's text.
std::string evaluate_detector(const DetectorEvalConfig& config);

}  // namespace spinescan::detect
