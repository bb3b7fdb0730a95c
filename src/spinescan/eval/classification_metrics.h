#pragma once
// Binary classification metrics (healthy 0 / pathological 1): confusion counts at a
// threshold, ROC AUC (Mann-Whitney, ties counted half), the ROC curve, reliability bins,
// and the two pictures `evaluate classifier` writes (ROC curve, reliability diagram) as SVG.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace spinescan::eval {

struct BinaryMetrics {
  double threshold = 0.5;
  double accuracy = 0, precision = 0, recall = 0, f1 = 0, specificity = 0;
  double auc = 0;  // NaN when one class is missing
  int64_t n = 0, positives = 0, tp = 0, fp = 0, tn = 0, fn = 0;
  nlohmann::json to_json() const;
};

// labels: 1 pathological, 0 healthy (same length as scores). Predicted positive: score >= threshold.
BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels, double threshold);
// The same with a threshold per sample (samples judged by different models, each at its own
// operating point); `threshold` of the result is NaN. The AUC still ranks the scores themselves.
BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                             const std::vector<double>& thresholds);
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

struct RocPoint {
  double fpr = 0, tpr = 0, threshold = 0;
};
// From (0,0) to (1,1), one point per distinct score.
std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels);

// A threshold that maximises F1: midway between the best-F1 score (ties: the higher one)
// and the next lower score, so it does not sit on a training example.
double best_f1_threshold(const std::vector<double>& scores, const std::vector<int>& labels);

struct ReliabilityBin {
  double lo = 0, hi = 0, mean_predicted = 0, observed = 0;
  int64_t count = 0;
};
// `bins` equal-width probability bins (empty ones kept with count 0).
std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& probabilities, const std::vector<int>& labels,
                                             int bins = 10);
// Count-weighted mean |observed - predicted| over the bins.
double expected_calibration_error(const std::vector<ReliabilityBin>& bins);

// What ECE a perfectly calibrated model would show with these bins' counts and predictions:
// each bin's observed share redrawn `draws` times as Binomial(count, mean_predicted) / count.
// On a hundred bodies this is several hundredths, so an ECE is read against it. Same seed,
// same numbers.
struct CalibratedEceSpread {
  double median = 0, p95 = 0;
  int draws = 0;
};
CalibratedEceSpread calibrated_ece_spread(const std::vector<ReliabilityBin>& bins, int draws = 2000, uint64_t seed = 0);

struct RocSeries {
  std::string name;
  std::vector<RocPoint> points;
  double auc = 0;
};
std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title);
std::string reliability_svg(const std::vector<ReliabilityBin>& bins, const std::string& title);

}  // namespace spinescan::eval
