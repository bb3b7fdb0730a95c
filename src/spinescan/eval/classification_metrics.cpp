#include "spinescan/eval/classification_metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "spinescan/core/errors.h"

namespace spinescan::eval {
namespace {

void check_inputs(const std::vector<double>& scores, const std::vector<int>& labels) {
  SPINESCAN_CHECK(scores.size() == labels.size(), "metrics: ", scores.size(), " scores but ", labels.size(), " labels");
  for (int l : labels) SPINESCAN_CHECK(l == 0 || l == 1, "metrics: labels must be 0 or 1, got ", l);
}

double safe_ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Indices sorted by descending score.
std::vector<size_t> by_descending_score(const std::vector<double>& scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

// Walks the scores from the highest down, one group of equal scores at a time, calling
// visit(score, true positives, false positives) with the counts of everything at or above it.
template <class Visit>
void walk_thresholds(const std::vector<double>& scores, const std::vector<int>& labels, Visit visit) {
  const auto order = by_descending_score(scores);
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) {
      labels[order[j]] ? ++tp : ++fp;
      ++j;
    }
    visit(scores[order[i]], tp, fp);
    i = j;
  }
}

}  // namespace

nlohmann::json BinaryMetrics::to_json() const {
  nlohmann::json j = {{"threshold", threshold}, {"accuracy", accuracy},   {"precision", precision}, {"recall", recall},
                      {"f1", f1},               {"specificity", specificity}, {"n", n},           {"positives", positives},
                      {"tp", tp},               {"fp", fp},               {"tn", tn},               {"fn", fn}};
  // JSON has no NaN: an undefined AUC (one class only) is null.
  j["auc"] = std::isfinite(auc) ? nlohmann::json(auc) : nlohmann::json(nullptr);
  return j;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  // Mann-Whitney U with mid-ranks: P(score of a positive > score of a negative), ties half.
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum_pos = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));
    for (size_t k = i; k < j; ++k)
      if (labels[order[k]]) {
        rank_sum_pos += mid_rank;
        ++pos;
      }
    i = j;
  }
  const int64_t neg = static_cast<int64_t>(scores.size()) - pos;
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum_pos - 0.5 * static_cast<double>(pos) * static_cast<double>(pos + 1)) /
         (static_cast<double>(pos) * static_cast<double>(neg));
}

namespace {
BinaryMetrics count_verdicts(const std::vector<double>& scores, const std::vector<int>& labels,
                             const std::function<double(size_t)>& threshold_of) {
  check_inputs(scores, labels);
  BinaryMetrics m;
  m.n = static_cast<int64_t>(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold_of(i);
    if (labels[i]) {
      ++m.positives;
      predicted ? ++m.tp : ++m.fn;
    } else {
      predicted ? ++m.fp : ++m.tn;
    }
  }
  m.accuracy = safe_ratio(static_cast<double>(m.tp + m.tn), static_cast<double>(m.n));
  m.precision = safe_ratio(static_cast<double>(m.tp), static_cast<double>(m.tp + m.fp));
  m.recall = safe_ratio(static_cast<double>(m.tp), static_cast<double>(m.tp + m.fn));
  m.specificity = safe_ratio(static_cast<double>(m.tn), static_cast<double>(m.tn + m.fp));
  m.f1 = safe_ratio(2.0 * static_cast<double>(m.tp), static_cast<double>(2 * m.tp + m.fp + m.fn));
  m.auc = roc_auc(scores, labels);
  return m;
}
}  // namespace

BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels, double threshold) {
  BinaryMetrics m = count_verdicts(scores, labels, [threshold](size_t) { return threshold; });
  m.threshold = threshold;
  return m;
}

BinaryMetrics binary_metrics(const std::vector<double>& scores, const std::vector<int>& labels,
                             const std::vector<double>& thresholds) {
  SPINESCAN_CHECK(thresholds.size() == scores.size(), "binary_metrics: ", thresholds.size(), " thresholds for ", scores.size(),
                  " scores");
  BinaryMetrics m = count_verdicts(scores, labels, [&thresholds](size_t i) { return thresholds[i]; });
  m.threshold = std::numeric_limits<double>::quiet_NaN();
  return m;
}

std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  int64_t pos = 0;
  for (int l : labels) pos += l;
  const int64_t neg = static_cast<int64_t>(labels.size()) - pos;
  std::vector<RocPoint> out{{0, 0, std::numeric_limits<double>::infinity()}};
  walk_thresholds(scores, labels, [&](double score, int64_t tp, int64_t fp) {
    out.push_back({safe_ratio(static_cast<double>(fp), static_cast<double>(neg)),
                   safe_ratio(static_cast<double>(tp), static_cast<double>(pos)), score});
  });
  return out;
}

double best_f1_threshold(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  int64_t pos = 0;
  for (int l : labels) pos += l;
  double best_f1 = -1, best = 0.5, below_best = 0.5;
  bool take_next = false;
  walk_thresholds(scores, labels, [&](double score, int64_t tp, int64_t fp) {
    if (take_next) {
      below_best = score;
      take_next = false;
    }
    const double f1 = safe_ratio(2.0 * static_cast<double>(tp), static_cast<double>(tp + fp + pos));
    if (f1 > best_f1) {  // strict: among equal F1 the first (highest) threshold stays
      best_f1 = f1;
      best = below_best = score;
      take_next = true;
    }
  });
  // Midway to the next lower score: the same F1 here, and a margin on both sides for new
  // cases (the best score itself sits on the lowest positive when the classes separate).
  return 0.5 * (best + below_best);
}

std::vector<ReliabilityBin> reliability_bins(const std::vector<double>& p, const std::vector<int>& labels, int bins) {
  check_inputs(p, labels);
  SPINESCAN_CHECK(bins >= 1, "reliability: need >= 1 bin");
  std::vector<ReliabilityBin> out(static_cast<size_t>(bins));
  for (int b = 0; b < bins; ++b) {
    out[static_cast<size_t>(b)].lo = static_cast<double>(b) / bins;
    out[static_cast<size_t>(b)].hi = static_cast<double>(b + 1) / bins;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    const int b = std::clamp(static_cast<int>(p[i] * bins), 0, bins - 1);
    auto& bin = out[static_cast<size_t>(b)];
    bin.mean_predicted += p[i];
    bin.observed += labels[i];
    ++bin.count;
  }
  for (auto& bin : out)
    if (bin.count) {
      bin.mean_predicted /= static_cast<double>(bin.count);
      bin.observed /= static_cast<double>(bin.count);
    }
  return out;
}

double expected_calibration_error(const std::vector<ReliabilityBin>& bins) {
  double sum = 0;
  int64_t n = 0;
  for (const auto& b : bins) {
    sum += static_cast<double>(b.count) * std::abs(b.observed - b.mean_predicted);
    n += b.count;
  }
  return n ? sum / static_cast<double>(n) : 0.0;
}

CalibratedEceSpread calibrated_ece_spread(const std::vector<ReliabilityBin>& bins, int draws, uint64_t seed) {
  SPINESCAN_CHECK_AS(draws >= 1, ConfigError, "calibrated_ece_spread needs at least one draw");
  std::mt19937_64 rng(seed);
  std::vector<ReliabilityBin> redrawn = bins;
  std::vector<double> eces;
  eces.reserve(static_cast<size_t>(draws));
  for (int d = 0; d < draws; ++d) {
    for (auto& b : redrawn) {
      if (b.count == 0) continue;
      std::binomial_distribution<int64_t> positives(b.count, std::clamp(b.mean_predicted, 0.0, 1.0));
      b.observed = static_cast<double>(positives(rng)) / static_cast<double>(b.count);
    }
    eces.push_back(expected_calibration_error(redrawn));
  }
  std::sort(eces.begin(), eces.end());
  const auto at = [&](double q) { return eces[std::min(eces.size() - 1, static_cast<size_t>(q * static_cast<double>(eces.size())))]; };
  return {at(0.5), at(0.95), draws};
}

namespace {

// A square plot area with axes 0..1 on both sides, gridlines every 0.2.
constexpr int kPlot = 360, kMargin = 50;
std::string px(double v) { return std::to_string(kMargin + v * kPlot); }
std::string py(double v) { return std::to_string(kMargin + (1 - v) * kPlot); }

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

void open_plot(std::ostringstream& o, const std::string& title, const std::string& xlabel, const std::string& ylabel) {
  const int w = kPlot + 2 * kMargin + 160, h = kPlot + 2 * kMargin;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kMargin << "\" y=\"20\" font-size=\"14\">" << escape(title) << "</text>\n";
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    o << "<line x1=\"" << px(v) << "\" y1=\"" << py(0) << "\" x2=\"" << px(v) << "\" y2=\"" << py(1) << "\" stroke=\"#ddd\"/>\n"
      << "<line x1=\"" << px(0) << "\" y1=\"" << py(v) << "\" x2=\"" << px(1) << "\" y2=\"" << py(v) << "\" stroke=\"#ddd\"/>\n";
    char label[8];
    std::snprintf(label, sizeof label, "%.1f", v);
    o << "<text x=\"" << px(v) << "\" y=\"" << kMargin + kPlot + 16 << "\" text-anchor=\"middle\">" << label << "</text>\n"
      << "<text x=\"" << kMargin - 6 << "\" y=\"" << py(v) << "\" text-anchor=\"end\" dominant-baseline=\"middle\">" << label << "</text>\n";
  }
  o << "<rect x=\"" << kMargin << "\" y=\"" << kMargin << "\" width=\"" << kPlot << "\" height=\"" << kPlot
    << "\" fill=\"none\" stroke=\"black\"/>\n"
    << "<text x=\"" << px(0.5) << "\" y=\"" << kMargin + kPlot + 36 << "\" text-anchor=\"middle\">" << escape(xlabel) << "</text>\n"
    << "<text transform=\"translate(14," << py(0.5) << ") rotate(-90)\" text-anchor=\"middle\">" << escape(ylabel) << "</text>\n"
    << "<line x1=\"" << px(0) << "\" y1=\"" << py(0) << "\" x2=\"" << px(1) << "\" y2=\"" << py(1)
    << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
}

}  // namespace

std::string roc_svg(const std::vector<RocSeries>& series, const std::string& title) {
  static const char* colours[] = {"#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#444444"};
  std::ostringstream o;
  open_plot(o, title, "false positive rate", "true positive rate");
  for (size_t s = 0; s < series.size(); ++s) {
    const char* colour = colours[s % 6];
    o << "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"" << colour << "\" points=\"";
    for (const auto& p : series[s].points) o << px(p.fpr) << "," << py(p.tpr) << " ";
    o << "\"/>\n";
    char label[160];
    std::snprintf(label, sizeof label, "%s (AUC %.3f)", series[s].name.c_str(), series[s].auc);
    const int y = kMargin + 14 + static_cast<int>(s) * 18;
    o << "<rect x=\"" << kMargin + kPlot + 12 << "\" y=\"" << y - 9 << "\" width=\"12\" height=\"4\" fill=\"" << colour << "\"/>\n"
      << "<text x=\"" << kMargin + kPlot + 28 << "\" y=\"" << y - 3 << "\">" << escape(label) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string reliability_svg(const std::vector<ReliabilityBin>& bins, const std::string& title) {
  std::ostringstream o;
  open_plot(o, title, "predicted probability", "observed share pathological");
  int64_t n = 0;
  for (const auto& b : bins) n = std::max(n, b.count);
  // Bars: observed share per bin; dots: the bin's mean predicted probability (on the diagonal
  // when calibrated). Bar opacity follows the bin's count, so sparse bins look faint.
  for (const auto& b : bins) {
    if (!b.count) continue;
    const double opacity = 0.25 + 0.75 * static_cast<double>(b.count) / static_cast<double>(std::max<int64_t>(1, n));
    o << "<rect x=\"" << px(b.lo) << "\" y=\"" << py(b.observed) << "\" width=\"" << (b.hi - b.lo) * kPlot - 2
      << "\" height=\"" << b.observed * kPlot << "\" fill=\"#1b9e77\" fill-opacity=\"" << opacity << "\"/>\n"
      << "<circle cx=\"" << px(b.mean_predicted) << "\" cy=\"" << py(b.observed) << "\" r=\"3\" fill=\"#d95f02\"/>\n"
      << "<text x=\"" << px(0.5 * (b.lo + b.hi)) << "\" y=\"" << kMargin - 4 << "\" text-anchor=\"middle\" font-size=\"9\">" << b.count
      << "</text>\n";
  }
  char ece[64];
  std::snprintf(ece, sizeof ece, "ECE %.3f", expected_calibration_error(bins));
  o << "<text x=\"" << kMargin + kPlot + 12 << "\" y=\"" << kMargin + 12 << "\">" << ece << "</text>\n"
    << "<text x=\"" << kMargin + kPlot + 12 << "\" y=\"" << kMargin + 30 << "\">bars: observed share</text>\n"
    << "<text x=\"" << kMargin + kPlot + 12 << "\" y=\"" << kMargin + 48 << "\">dots: mean predicted</text>\n"
    << "<text x=\"" << kMargin + kPlot + 12 << "\" y=\"" << kMargin + 66 << "\">numbers: samples per bin</text>\n"
    << "</svg>\n";
  return o.str();
}

}  // namespace spinescan::eval
