// Classification metrics against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "spinescan/classify/samples.h"
#include "spinescan/eval/classification_metrics.h"

using namespace spinescan::eval;

TEST(ClassificationMetrics, ConfusionCountsAndRatiosAtAThreshold) {
  // scores >= 0.5 are positive: tp = {0.9, 0.6}, fp = {0.7}, fn = {0.2}, tn = {0.1, 0.4}
  const std::vector<double> s = {0.9, 0.6, 0.7, 0.2, 0.1, 0.4};
  const std::vector<int> y = {1, 1, 0, 1, 0, 0};
  const auto m = binary_metrics(s, y, 0.5);
  EXPECT_EQ(m.tp, 2);
  EXPECT_EQ(m.fp, 1);
  EXPECT_EQ(m.fn, 1);
  EXPECT_EQ(m.tn, 2);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.f1, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.specificity, 2.0 / 3);
  // Pairs (pos, neg): 0.9 beats all 3; 0.6 beats 0.1, 0.4; 0.2 beats 0.1 -> 6 of 9.
  EXPECT_DOUBLE_EQ(m.auc, 6.0 / 9);
}

TEST(ClassificationMetrics, AucCountsTiesAsHalfAndIsUndefinedForOneClass) {
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5}, {1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.8, 0.5, 0.5}, {1, 1, 0}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.9}, {1, 0}), 0.0);
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.9}, {1, 1})));
  EXPECT_TRUE(binary_metrics({0.1, 0.9}, {0, 0}, 0.5).to_json()["auc"].is_null());
  EXPECT_THROW(roc_auc({0.1}, {2}), std::exception);
  EXPECT_THROW(roc_auc({0.1, 0.2}, {1}), std::exception);
}

TEST(ClassificationMetrics, RocCurveRunsFromOriginToOneAndItsAreaIsTheAuc) {
  const std::vector<double> s = {0.9, 0.6, 0.7, 0.2, 0.1, 0.4, 0.6};
  const std::vector<int> y = {1, 1, 0, 1, 0, 0, 0};
  const auto roc = roc_curve(s, y);
  EXPECT_DOUBLE_EQ(roc.front().fpr, 0);
  EXPECT_DOUBLE_EQ(roc.front().tpr, 0);
  EXPECT_DOUBLE_EQ(roc.back().fpr, 1);
  EXPECT_DOUBLE_EQ(roc.back().tpr, 1);
  double area = 0;
  for (size_t i = 1; i < roc.size(); ++i) area += (roc[i].fpr - roc[i - 1].fpr) * 0.5 * (roc[i].tpr + roc[i - 1].tpr);
  EXPECT_NEAR(area, roc_auc(s, y), 1e-12);
}

TEST(ClassificationMetrics, BestF1ThresholdPicksTheScoreThatSplitsBest) {
  // Positives 0.9, 0.8; negatives 0.85, 0.3: thresholds 0.9 -> F1 2/3, 0.85 -> 0.5,
  // 0.8 -> 0.8, 0.3 -> 2/3. Best is 0.8; the threshold sits midway to the next score, 0.3.
  EXPECT_DOUBLE_EQ(best_f1_threshold({0.9, 0.85, 0.8, 0.3}, {1, 0, 1, 0}), 0.55);
  EXPECT_DOUBLE_EQ(best_f1_threshold({0.9, 0.2}, {1, 0}), 0.55);
  EXPECT_DOUBLE_EQ(best_f1_threshold({0.9, 0.2}, {0, 1}), 0.2);  // lowest score best: nothing below
}

TEST(ClassificationMetrics, ReliabilityBinsAndCalibrationError) {
  const auto bins = reliability_bins({0.05, 0.15, 0.95, 0.95}, {0, 1, 1, 0}, 10);
  ASSERT_EQ(bins.size(), 10u);
  EXPECT_EQ(bins[0].count, 1);
  EXPECT_DOUBLE_EQ(bins[0].observed, 0);
  EXPECT_EQ(bins[1].count, 1);
  EXPECT_DOUBLE_EQ(bins[1].observed, 1);
  EXPECT_EQ(bins[9].count, 2);
  EXPECT_DOUBLE_EQ(bins[9].observed, 0.5);
  EXPECT_DOUBLE_EQ(bins[9].mean_predicted, 0.95);
  // (1 * 0.05 + 1 * 0.85 + 2 * 0.45) / 4
  EXPECT_NEAR(expected_calibration_error(bins), (0.05 + 0.85 + 0.9) / 4, 1e-12);
}

// A calibrated model's ECE on n bodies is not 0: one bin of 100 bodies at p 0.5 draws its
// observed share with a standard deviation of 0.05, so |share - 0.5| has median 0.674 * 0.05
// and 95th percentile 1.96 * 0.05; on 100 times the bodies both shrink tenfold.
TEST(ClassificationMetrics, CalibratedEceSpreadIsTheSamplingNoiseOfTheBins) {
  ReliabilityBin half;
  half.lo = 0.5, half.hi = 0.6, half.mean_predicted = 0.5, half.observed = 0.5, half.count = 100;
  const auto small = calibrated_ece_spread({half});
  EXPECT_NEAR(small.median, 0.674 * 0.05, 0.007);
  EXPECT_NEAR(small.p95, 1.96 * 0.05, 0.012);
  EXPECT_EQ(small.draws, 2000);
  half.count = 10000;
  const auto large = calibrated_ece_spread({half});
  EXPECT_NEAR(large.median, 0.674 * 0.005, 0.0007);
  // Certain predictions draw no noise; the same seed gives the same numbers.
  ReliabilityBin sure = half;
  sure.mean_predicted = sure.observed = 1.0;
  EXPECT_DOUBLE_EQ(calibrated_ece_spread({sure}).p95, 0.0);
  EXPECT_DOUBLE_EQ(calibrated_ece_spread({half}, 500, 7).median, calibrated_ece_spread({half}, 500, 7).median);
  // A model that says 0.9 where half are positive lies far outside a calibrated model's spread.
  const auto overconfident = reliability_bins(std::vector<double>(100, 0.95), [] {
    std::vector<int> y(100, 0);
    std::fill(y.begin(), y.begin() + 50, 1);
    return y;
  }());
  EXPECT_GT(expected_calibration_error(overconfident), 5 * calibrated_ece_spread(overconfident).p95);
}

TEST(ClassificationMetrics, PlotsAreSvgWithOneCurvePerSeries) {
  const auto roc = roc_curve({0.9, 0.1, 0.6}, {1, 0, 1});
  const std::string svg = roc_svg({{"slice", roc, 1.0}, {"vertebra", roc, 1.0}}, "ROC <test>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("ROC &lt;test&gt;"), std::string::npos);
  size_t curves = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++curves;
  EXPECT_EQ(curves, 2u);
  const std::string rel = reliability_svg(reliability_bins({0.2, 0.8}, {0, 1}), "calibration");
  EXPECT_NE(rel.find("ECE"), std::string::npos);
  EXPECT_NE(rel.find("</svg>"), std::string::npos);
}

TEST(ClassificationMetrics, WithinSourceAucIgnoresTheSiteSignal) {
  using spinescan::case_source;
  EXPECT_EQ(case_source("spider_110"), "spider");
  EXPECT_EQ(case_source("vb2_003"), "vb2");
  EXPECT_EQ(case_source("plain"), "plain");
  // Site B is all healthy and scores low: pooled AUC is high, but within site A the
  // classifier is at chance (its positive and negative score the same).
  const std::vector<double> s = {0.9, 0.9, 0.1, 0.1};
  const std::vector<int> y = {1, 0, 0, 0};
  const std::vector<std::string> src = {"a", "a", "b", "b"};
  EXPECT_GT(roc_auc(s, y), 0.8);
  EXPECT_DOUBLE_EQ(spinescan::classify::within_source_auc(s, y, src), 0.5);
  EXPECT_TRUE(std::isnan(spinescan::classify::within_source_auc({0.1}, {0}, {"a"})));
}
