#include "spinescan/aggregate/features.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "spinescan/classify/baseline.h"
#include "spinescan/core/errors.h"

namespace spinescan::aggregate {

namespace {
constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

const std::vector<std::string>& own_names() {
  static const std::vector<std::string> names = {
      "p_max", "p_mean", "p_top2_mean", "p_sd", "p_evidence_offset",
      "slices", "score_mean", "score_min",
      "height_mm", "depth_mm", "width_mm", "height_over_depth",
      "height_vs_neighbours", "depth_vs_neighbours", "signal_vs_neighbours",
      "position_from_bottom", "position_fraction", "p_max_above", "p_max_below", "q_max", "q_mean"};
  return names;
}

// The body's own statistics, averaged over its central slices (central_boxes).
std::vector<double> mean_intensity_features(const Track& t, const Volume<float>& v) {
  std::vector<double> sum(classify::intensity_feature_names().size(), 0.0);
  int n = 0;
  for (const auto& b : central_boxes(t)) {
    // The intensity model computed them for the judged boxes already (pipeline/analyze.cpp).
    const auto f = b.intensity_features.empty() ? classify::intensity_features(v, b.slice, b.box)
                                                : b.intensity_features;
    for (size_t i = 0; i < f.size(); ++i) sum[i] += f[i];
    ++n;
  }
  for (auto& s : sum) s /= std::max(n, 1);
  return sum;
}

double ratio_to_neighbours(const std::vector<double>& values, size_t i) {
  double sum = 0;
  int n = 0;
  if (i > 0) sum += values[i - 1], ++n;
  if (i + 1 < values.size()) sum += values[i + 1], ++n;
  if (n == 0 || std::abs(sum / n) < 1e-9) return kMissing;
  return values[i] / (sum / n);
}
}  // namespace

const std::vector<std::string>& vertebra_feature_names() {
  static const std::vector<std::string> names = [] {
    auto all = own_names();
    for (const auto& n : classify::intensity_feature_names()) all.push_back("slice_" + n);
    return all;
  }();
  return names;
}

const std::vector<std::string>& level_cue_feature_names() {
  static const std::vector<std::string> names = {
      "slices",         "score_mean",          "score_min",           "height_mm",
      "depth_mm",       "height_over_depth",   "height_vs_neighbours", "depth_vs_neighbours",
      "signal_vs_neighbours", "slice_body_p50", "slice_inferior_band_minus_body", "slice_disc_below_mean",
      "slice_height_over_width"};
  return names;
}

SliceEvidence slice_evidence(const Track& track) {
  SPINESCAN_CHECK(!track.boxes.empty(), "a track without boxes");
  SliceEvidence e;
  std::vector<double> p;
  for (const auto& b : track.boxes)
    if (b.probability >= 0) p.push_back(b.probability);
  e.evidence_slice = track.largest().slice;
  if (p.empty()) return e;
  double best = -1;
  for (const auto& b : track.boxes)
    if (b.probability > best) best = b.probability, e.evidence_slice = b.slice;
  std::sort(p.begin(), p.end(), std::greater<>());
  e.max = p.front();
  e.mean = std::accumulate(p.begin(), p.end(), 0.0) / p.size();
  e.top2_mean = p.size() >= 2 ? (p[0] + p[1]) / 2 : p[0];
  double ss = 0;
  for (double x : p) ss += (x - e.mean) * (x - e.mean);
  e.sd = std::sqrt(ss / p.size());
  return e;
}

std::vector<std::vector<double>> vertebra_features(const std::vector<Track>& tracks, const Volume<float>& v) {
  const size_t n = tracks.size();
  std::vector<SliceEvidence> evidence;
  std::vector<double> height(n), depth(n), signal(n);
  std::vector<std::vector<double>> intensity;
  for (size_t i = 0; i < n; ++i) {
    evidence.push_back(slice_evidence(tracks[i]));
    const auto& big = tracks[i].largest();
    height[i] = big.box.height() * v.spacing_mm[1];
    depth[i] = big.box.width() * v.spacing_mm[0];
    intensity.push_back(mean_intensity_features(tracks[i], v));
    signal[i] = intensity.back()[0];  // body_mean
  }
  auto or_missing = [](double x) { return x < 0 ? kMissing : x; };
  std::vector<std::vector<double>> rows;
  for (size_t i = 0; i < n; ++i) {
    const Track& t = tracks[i];
    const SliceEvidence& e = evidence[i];
    double score_sum = 0, score_min = 1;
    for (const auto& b : t.boxes) score_sum += b.score, score_min = std::min(score_min, b.score);
    // Where the strongest slice lies relative to the body's middle (0 = centre, 1 = its edge):
    // a maximum at a lateral sliver is weaker evidence than one through the middle.
    const double middle = (t.first_slice() + t.last_slice()) / 2.0;
    const double half_span = std::max(0.5, (t.last_slice() - t.first_slice()) / 2.0);
    const double offset = e.max < 0 ? kMissing : std::abs(e.evidence_slice - middle) / half_span;
    std::vector<double> row = {
        or_missing(e.max), or_missing(e.mean), or_missing(e.top2_mean), or_missing(e.sd), offset,
        static_cast<double>(t.boxes.size()), score_sum / t.boxes.size(), score_min,
        height[i], depth[i], (t.last_slice() - t.first_slice() + 1) * v.spacing_mm[2], height[i] / std::max(depth[i], 1e-6),
        ratio_to_neighbours(height, i), ratio_to_neighbours(depth, i), ratio_to_neighbours(signal, i),
        static_cast<double>(n - 1 - i), n > 1 ? static_cast<double>(i) / (n - 1) : 0.5,
        i > 0 ? or_missing(evidence[i - 1].max) : kMissing, i + 1 < n ? or_missing(evidence[i + 1].max) : kMissing};
    // The intensity model's probabilities (logistic regression on the slice statistics,
    // fitted on thousands of slices, where the trees see a few hundred vertebrae).
    double q_max = -1, q_sum = 0;
    int q_n = 0;
    for (const auto& b : t.boxes)
      if (b.intensity_probability >= 0) q_max = std::max(q_max, b.intensity_probability), q_sum += b.intensity_probability, ++q_n;
    row.push_back(or_missing(q_max));
    row.push_back(q_n ? q_sum / q_n : kMissing);
    row.insert(row.end(), intensity[i].begin(), intensity[i].end());
    SPINESCAN_CHECK(row.size() == vertebra_feature_names().size(), "feature row has ", row.size(), " values");
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<int> evidence_monotone_constraints() {
  static const std::set<std::string> rising = {"p_max", "p_mean", "p_top2_mean", "q_max", "q_mean"};
  std::vector<int> out;
  for (const auto& name : vertebra_feature_names()) out.push_back(rising.count(name) ? 1 : 0);
  return out;
}

}  // namespace spinescan::aggregate
