#pragma once
// Scoring the whole pipeline against a dataset case: which found vertebra is which
// ground-truth body, and end-to-end per-vertebra records in which a body that was not found
// is a miss (probability 0), never silently dropped.
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/data/boxes.h"
#include "spinescan/data/dataset.h"
#include "spinescan/eval/detection_metrics.h"
#include "spinescan/pipeline/analyze.h"

namespace spinescan::pipeline {

struct TruthBody {
  int label = 0;
  std::string level;
  int target = -1;  // 1 pathological, 0 healthy, -1 unknown
};

struct CaseTruth {
  std::vector<TruthBody> bodies;
  std::vector<std::vector<BodyBox>> boxes_per_slice;  // canonical, every body pixel counted
  std::array<double, 3> spacing_mm{1, 1, 1};          // canonical
};
CaseTruth load_case_truth(const Dataset& dataset, const std::string& case_name);

// For each track, the label of the ground-truth body it follows (0: none, a false positive).
// A track and a body match when their boxes overlap by at least `min_overlap` IoU averaged
// over the track's slices; one-to-one, best pairs first.
std::vector<int> match_tracks_to_truth(const std::vector<aggregate::Track>& tracks, const CaseTruth& truth, double min_overlap = 0.3);

// One per found vertebra and one per ground-truth body that no track matched.
struct VertebraRecord {
  std::string case_name;
  int fold = -1;
  int truth_label = 0;        // 0: a found vertebra that is not a labelled body
  std::string truth_level;
  int target = -1;            // 1 / 0 / -1 unknown (skipped by the metrics)
  bool found = false;
  std::string level;          // named by the pipeline
  double level_confidence = 0;
  bool count_warned = false;  // the study was told to count the vertebrae (levels::count_warned)
  double probability = 0;     // the bundle's final probability (0 when not found)
  double max_probability = 0; // calibrated max over slices (0 when not found)
  int evidence_slice = -1;
  int from_bottom = -1;       // position counted from the lowest found vertebra (0 = lowest); -1 when not found
  std::vector<double> features;  // empty when not found
  aggregate::Track track;        // found: the detector's boxes (slice, box, score); empty when not found
  // The level net's mean logit on this body (levels/level_net.h), where `train levels` computed
  // it (the lowest found body of a case); not stored: it depends on the net, not the detector.
  double level_net_logit = std::numeric_limits<double>::quiet_NaN();
  nlohmann::json to_json() const;
  static VertebraRecord from_json(const nlohmann::json& j);
};
// How analyze computes a record; part of the key of cached records, raised when that changes
// (2: only the boxes of at least 30 % of a body's largest box are classified; 3: the boxes are
// stored; 4: whether the study was warned to count the vertebrae).
constexpr int kRecordsVersion = 4;

// Records cached in a JSONL file whose first line is `key` (what they were computed from):
// read back when the key matches, else computed by `compute` and written atomically.
std::vector<VertebraRecord> cached_records(const std::filesystem::path& file, const nlohmann::json& key,
                                           const std::function<std::vector<VertebraRecord>()>& compute);

std::vector<VertebraRecord> vertebra_records(const StudyAnalysis& analysis, const CaseTruth& truth, const std::string& case_name);

// The detector's operating-point boxes against the ground truth, slice by slice, for
// eval::summarize_detection (bodies under 50 mm2 on a slice are ignored, as in `evaluate detector`).
std::vector<eval::SliceResult> detection_slices(const StudyAnalysis& analysis, const CaseTruth& truth, const std::string& case_name);

}  // namespace spinescan::pipeline
