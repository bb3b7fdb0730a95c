#include "spinescan/eval/detection_metrics.h"

#include <algorithm>
#include <numeric>

namespace spinescan::eval {

namespace {

// Greedy matching of one slice's predictions (score order) to its truth at an IoU threshold.
// Returns per prediction: 1 true positive, 0 false positive, -1 matched an ignored body.
std::vector<int> match_slice(const SliceResult& s, const std::vector<size_t>& order, double iou_threshold) {
  std::vector<int> outcome(s.predictions.size(), 0);
  std::vector<char> taken(s.truth.size(), 0);
  for (size_t p : order) {
    double best = iou_threshold;
    int best_gt = -1;
    // Prefer unmatched real bodies; fall back to ignored ones.
    for (int pass = 0; pass < 2 && best_gt < 0; ++pass)
      for (size_t g = 0; g < s.truth.size(); ++g) {
        if (taken[g] || s.truth[g].ignore != (pass == 1)) continue;
        const double v = ops::iou(s.predictions[p].box, s.truth[g].box);
        if (v >= best) {
          best = v;
          best_gt = static_cast<int>(g);
        }
      }
    if (best_gt < 0) continue;
    taken[static_cast<size_t>(best_gt)] = 1;
    outcome[p] = s.truth[static_cast<size_t>(best_gt)].ignore ? -1 : 1;
  }
  return outcome;
}

std::vector<size_t> score_order(const SliceResult& s, double min_score) {
  std::vector<size_t> order;
  for (size_t i = 0; i < s.predictions.size(); ++i)
    if (s.predictions[i].score >= min_score) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return s.predictions[a].score > s.predictions[b].score; });
  return order;
}

}  // namespace

double average_precision(const std::vector<SliceResult>& slices, double iou_threshold) {
  std::vector<std::pair<double, int>> scored;  // (score, 1 = TP / 0 = FP)
  int64_t num_truth = 0;
  for (const auto& s : slices) {
    for (const auto& g : s.truth) num_truth += !g.ignore;
    const auto order = score_order(s, -1e300);
    const auto outcome = match_slice(s, order, iou_threshold);
    for (size_t p : order)
      if (outcome[p] >= 0) scored.push_back({s.predictions[p].score, outcome[p]});
  }
  if (num_truth == 0) return 0;
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<double> precision, recall;
  int64_t tp = 0, fp = 0;
  for (const auto& [score, is_tp] : scored) {
    (is_tp ? tp : fp) += 1;
    precision.push_back(static_cast<double>(tp) / (tp + fp));
    recall.push_back(static_cast<double>(tp) / num_truth);
  }
  // Monotone precision envelope, sampled at 101 recall points.
  for (size_t i = precision.size(); i-- > 1;) precision[i - 1] = std::max(precision[i - 1], precision[i]);
  double sum = 0;
  for (int k = 0; k <= 100; ++k) {
    const double r = k / 100.0;
    const auto it = std::lower_bound(recall.begin(), recall.end(), r);
    if (it != recall.end()) sum += precision[static_cast<size_t>(it - recall.begin())];
  }
  return sum / 101.0;
}

DetectionSummary summarize_detection(const std::vector<SliceResult>& slices, double operating_score) {
  DetectionSummary d;
  double iou_sum = 0, iou_path_sum = 0;
  int64_t matched = 0;
  for (const auto& s : slices) {
    ++d.num_slices;
    for (const auto& g : s.truth) {
      if (g.ignore) continue;
      double best = 0;
      for (const auto& p : s.predictions)
        if (p.score >= operating_score) best = std::max(best, ops::iou(p.box, g.box));
      iou_sum += best;
      ++d.num_truth;
      if (g.pathological) {
        iou_path_sum += best;
        ++d.num_truth_pathological;
      }
    }
    const auto order = score_order(s, operating_score);
    d.num_predictions += static_cast<int64_t>(order.size());
    const auto outcome = match_slice(s, order, 0.5);
    for (size_t p : order) {
      if (outcome[p] == 1) ++matched;
      if (outcome[p] == 0) ++d.false_positives;
    }
  }
  d.true_positives = matched;
  d.mean_iou = d.num_truth ? iou_sum / d.num_truth : 0;
  d.mean_iou_pathological = d.num_truth_pathological ? iou_path_sum / d.num_truth_pathological : 0;
  d.recall_at_50 = d.num_truth ? static_cast<double>(matched) / d.num_truth : 0;
  d.precision_at_50 = (matched + d.false_positives) ? static_cast<double>(matched) / (matched + d.false_positives) : 0;
  d.false_positives_per_slice = d.num_slices ? static_cast<double>(d.false_positives) / d.num_slices : 0;
  d.ap50 = average_precision(slices, 0.5);
  double ap_sum = 0;
  for (int k = 0; k < 10; ++k) ap_sum += average_precision(slices, 0.5 + 0.05 * k);
  d.ap50_95 = ap_sum / 10;
  return d;
}

}  // namespace spinescan::eval
