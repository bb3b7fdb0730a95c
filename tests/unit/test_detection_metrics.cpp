#include <gtest/gtest.h>

#include "spinescan/eval/detection_metrics.h"

using namespace spinescan::eval;

namespace {
GroundTruth truth(double x1, double y1, double x2, double y2, bool pathological = false, bool ignore = false) {
  return {{x1, y1, x2, y2}, pathological, ignore};
}
Prediction pred(double x1, double y1, double x2, double y2, double score) { return {{x1, y1, x2, y2}, score}; }
}  // namespace

TEST(DetectionMetrics, MeanIouRecallPrecisionByHand) {
  SliceResult s;
  s.truth = {truth(0, 0, 10, 10, true), truth(20, 0, 30, 10)};
  s.predictions = {pred(0, 0, 10, 5, 0.9),      // IoU .5 with body 0
                   pred(20, 0, 30, 10, 0.8),    // IoU 1 with body 1
                   pred(50, 50, 60, 60, 0.7),   // false positive
                   pred(0, 0, 10, 10, 0.1)};    // perfect, but below the operating score
  const auto d = summarize_detection({s}, 0.5);
  EXPECT_DOUBLE_EQ(d.mean_iou, (0.5 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(d.mean_iou_pathological, 0.5);
  EXPECT_EQ(d.true_positives, 2);
  EXPECT_EQ(d.false_positives, 1);
  EXPECT_DOUBLE_EQ(d.recall_at_50, 1.0);
  EXPECT_DOUBLE_EQ(d.precision_at_50, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(d.false_positives_per_slice, 1.0);
  // With a lower operating score the perfect low-scoring box raises body 0's IoU to 1.
  EXPECT_DOUBLE_EQ(summarize_detection({s}, 0.05).mean_iou, 1.0);
}

TEST(DetectionMetrics, MissedBodiesCountZeroAndDuplicatesAreFalsePositives) {
  SliceResult s;
  s.truth = {truth(0, 0, 10, 10), truth(20, 0, 30, 10)};
  s.predictions = {pred(0, 0, 10, 10, 0.9), pred(1, 0, 10, 10, 0.8)};  // two on body 0, none on body 1
  const auto d = summarize_detection({s}, 0.5);
  EXPECT_DOUBLE_EQ(d.mean_iou, 0.5);
  EXPECT_DOUBLE_EQ(d.recall_at_50, 0.5);
  EXPECT_EQ(d.false_positives, 1);
}

TEST(DetectionMetrics, IgnoredBodiesNeitherMissNorMakeFalsePositives) {
  SliceResult s;
  s.truth = {truth(0, 0, 10, 10), truth(40, 40, 44, 42, false, true)};
  s.predictions = {pred(0, 0, 10, 10, 0.9), pred(40, 40, 44, 42, 0.8)};
  const auto d = summarize_detection({s}, 0.5);
  EXPECT_EQ(d.num_truth, 1);
  EXPECT_DOUBLE_EQ(d.recall_at_50, 1.0);
  EXPECT_EQ(d.false_positives, 0);
  EXPECT_DOUBLE_EQ(d.precision_at_50, 1.0);
}

TEST(DetectionMetrics, AveragePrecisionByHand) {
  // Two slices, three bodies. Ranked: TP (.9), FP (.8), TP (.7); the third body is missed.
  SliceResult a, b;
  a.truth = {truth(0, 0, 10, 10), truth(20, 0, 30, 10)};
  a.predictions = {pred(0, 0, 10, 10, 0.9), pred(60, 60, 70, 70, 0.8)};
  b.truth = {truth(0, 0, 10, 10)};
  b.predictions = {pred(0, 0, 10, 10, 0.7)};
  // Precision envelope: recall <= 1/3 -> 1, recall (1/3, 2/3] -> 2/3, above 2/3 -> 0.
  // 101 recall points: 0..0.33 (34 points) at 1, 0.34..0.66 (33 points) at 2/3.
  EXPECT_NEAR(average_precision({a, b}, 0.5), (34 * 1.0 + 33 * 2.0 / 3.0) / 101.0, 1e-12);
  // Perfect detections give AP 1 at every threshold.
  SliceResult p;
  p.truth = {truth(0, 0, 10, 10)};
  p.predictions = {pred(0, 0, 10, 10, 0.5)};
  EXPECT_DOUBLE_EQ(average_precision({p}, 0.95), 1.0);
  EXPECT_DOUBLE_EQ(summarize_detection({p}, 0.3).ap50_95, 1.0);
}
