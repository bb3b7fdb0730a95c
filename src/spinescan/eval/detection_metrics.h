#pragma once
// Detection metrics over slices: mean IoU per ground-truth body, recall / precision at an
// IoU threshold, COCO-style average precision, false positives per slice.
#include <cstdint>
#include <string>
#include <vector>

#include "spinescan/ops/box.h"

namespace spinescan::eval {

struct GroundTruth {
  ops::Box box;
  bool pathological = false;
  // Ignored bodies (slivers below the minimum area) neither count as missed nor make a
  // prediction on them a false positive.
  bool ignore = false;
};
struct Prediction {
  ops::Box box;
  double score = 0;
};
struct SliceResult {
  std::string case_name;
  int slice = 0;
  std::vector<GroundTruth> truth;
  std::vector<Prediction> predictions;  // all candidates above the model's score floor
};

struct DetectionSummary {
  // Over non-ignored ground-truth bodies; each takes the best IoU of any prediction scoring
  // >= the operating threshold, 0 when there is none.
  double mean_iou = 0, mean_iou_pathological = 0;
  // One-to-one greedy matching (highest score first) at IoU >= 0.5 among predictions
  // scoring >= the operating threshold.
  double recall_at_50 = 0, precision_at_50 = 0;
  double ap50 = 0, ap50_95 = 0;  // over all predictions, 101-point interpolation (COCO)
  double false_positives_per_slice = 0;
  int64_t num_slices = 0, num_truth = 0, num_truth_pathological = 0, num_predictions = 0;
  int64_t true_positives = 0, false_positives = 0;
};

DetectionSummary summarize_detection(const std::vector<SliceResult>& slices, double operating_score);

// AP at one IoU threshold over all predictions (any score).
double average_precision(const std::vector<SliceResult>& slices, double iou_threshold);

}  // namespace spinescan::eval
