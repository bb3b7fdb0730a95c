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
      "position_from_bottom", "position_fraction", "p_max_above", "p_max_below", "q_max", "q_mean",
      "focal_bright", "focal_dark"};
  return names;
}

// Side of the square whose mean stands for a focus: the smallest metastases a reader counts
// are about 5 mm, and a smaller window follows the marrow's speckle instead.
constexpr double kFocalWindowMm = 5.0;
// How far in from each side of the box the marrow is read: clear of the cortex and of the
// endplate bands, where spondylodiscitis and Modic changes sit (their own features).
constexpr double kFocalInset = 0.15;

struct FocalContrast {
  double bright = kMissing, dark = kMissing;
};

// Focal marrow signal on one slice (metastases are 5-15 mm foci, mostly T2-bright, some
// dark): the brightest and the darkest kFocalWindowMm-square mean inside the box's inner part,
// each against that part's median, in normalised intensity. A diffuse change moves the median
// with every window and cancels; a focus does not. Missing when the inner part is smaller than
// a window.
FocalContrast focal_contrast(const Volume<float>& v, int slice, const ops::Box& b) {
  const int64_t cols = v.size[0], rows = v.size[1];
  const double inset_x = kFocalInset * b.width(), inset_y = kFocalInset * b.height();
  const int64_t c0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(b.x1 + inset_x - 0.5))),
                c1 = std::min<int64_t>(cols, static_cast<int64_t>(std::ceil(b.x2 - inset_x - 0.5)));
  const int64_t r0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(b.y1 + inset_y - 0.5))),
                r1 = std::min<int64_t>(rows, static_cast<int64_t>(std::ceil(b.y2 - inset_y - 0.5)));
  const int64_t kx = std::max<int64_t>(1, std::lround(kFocalWindowMm / v.spacing_mm[0])),
                ky = std::max<int64_t>(1, std::lround(kFocalWindowMm / v.spacing_mm[1]));
  const int64_t w = c1 - c0, h = r1 - r0;
  if (w < kx || h < ky) return {};
  // Summed-area table of the inner part: every window's mean in constant time.
  std::vector<double> sat(static_cast<size_t>((w + 1) * (h + 1)), 0.0);
  std::vector<float> values;
  values.reserve(static_cast<size_t>(w * h));
  for (int64_t r = 0; r < h; ++r) {
    double row_sum = 0;
    for (int64_t c = 0; c < w; ++c) {
      const float x = v.at(c0 + c, r0 + r, slice);
      values.push_back(x);
      row_sum += x;
      sat[(r + 1) * (w + 1) + c + 1] = sat[r * (w + 1) + c + 1] + row_sum;
    }
  }
  double brightest = -std::numeric_limits<double>::infinity(), darkest = std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r + ky <= h; ++r)
    for (int64_t c = 0; c + kx <= w; ++c) {
      const double sum = sat[(r + ky) * (w + 1) + c + kx] - sat[r * (w + 1) + c + kx] - sat[(r + ky) * (w + 1) + c] + sat[r * (w + 1) + c];
      const double mean = sum / static_cast<double>(kx * ky);
      brightest = std::max(brightest, mean);
      darkest = std::min(darkest, mean);
    }
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  const double median = *middle;
  return {brightest - median, median - darkest};
}

// The strongest focus over the body's central slices (a focus is seen on a few slices only).
FocalContrast strongest_focus(const Track& t, const Volume<float>& v) {
  FocalContrast out;
  for (const auto& b : central_boxes(t)) {
    const FocalContrast f = focal_contrast(v, b.slice, b.box);
    if (std::isnan(f.bright)) continue;
    out.bright = std::isnan(out.bright) ? f.bright : std::max(out.bright, f.bright);
    out.dark = std::isnan(out.dark) ? f.dark : std::max(out.dark, f.dark);
  }
  return out;
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

// Each body against the rest of its own column: the median over the study's other bodies
// (at least two with a value). A patient whose whole marrow looks unusual (bright and
// heterogeneous fatty marrow, a scanner's own contrast) moves every body's probabilities
// together; a lesion moves its own body's away from its neighbours'.
const std::vector<std::string>& study_context_names() {
  static const std::vector<std::string> names = {"p_max_vs_study", "p_mean_vs_study", "signal_vs_study"};
  return names;
}

double median_of_others(const std::vector<std::vector<double>>& rows, size_t column, size_t i) {
  std::vector<double> others;
  for (size_t j = 0; j < rows.size(); ++j)
    if (j != i && std::isfinite(rows[j][column])) others.push_back(rows[j][column]);
  if (others.size() < 2) return kMissing;
  std::sort(others.begin(), others.end());
  const size_t m = others.size() / 2;
  return others.size() % 2 ? others[m] : (others[m - 1] + others[m]) / 2;
}

// Appends study_context_names() to every row (the rows of one study, all other columns filled).
void append_study_context(std::vector<std::vector<double>>& rows) {
  static const std::vector<size_t> columns = feature_columns({"p_max", "p_mean", "slice_body_mean"});
  const size_t p_max = columns[0], p_mean = columns[1], signal = columns[2];
  std::vector<std::vector<double>> context;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double max_others = median_of_others(rows, p_max, i), mean_others = median_of_others(rows, p_mean, i),
                 signal_others = median_of_others(rows, signal, i);
    context.push_back({rows[i][p_max] - max_others, rows[i][p_mean] - mean_others,
                       std::abs(signal_others) < 1e-9 ? kMissing : rows[i][signal] / signal_others});
  }
  for (size_t i = 0; i < rows.size(); ++i) rows[i].insert(rows[i].end(), context[i].begin(), context[i].end());
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
    for (const auto& n : study_context_names()) all.push_back(n);
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
    const FocalContrast focus = strongest_focus(t, v);
    row.push_back(focus.bright);
    row.push_back(focus.dark);
    row.insert(row.end(), intensity[i].begin(), intensity[i].end());
    SPINESCAN_CHECK(row.size() + study_context_names().size() == vertebra_feature_names().size(), "feature row has ", row.size(),
                    " values");
    rows.push_back(std::move(row));
  }
  append_study_context(rows);
  return rows;
}

std::vector<int> evidence_monotone_constraints(const std::vector<std::string>& names) {
  static const std::set<std::string> rising = {"p_max", "p_mean", "p_top2_mean", "q_max", "q_mean"};
  std::vector<int> out;
  for (const auto& name : names) out.push_back(rising.count(name) ? 1 : 0);
  return out;
}

std::vector<size_t> feature_columns(const std::vector<std::string>& names) {
  const auto& all = vertebra_feature_names();
  std::vector<size_t> out;
  for (const auto& name : names) {
    const auto it = std::find(all.begin(), all.end(), name);
    SPINESCAN_CHECK_AS(it != all.end(), ModelError, "feature '", name, "' is not one this program computes");
    out.push_back(static_cast<size_t>(it - all.begin()));
  }
  return out;
}

std::vector<double> select_columns(const std::vector<double>& row, const std::vector<size_t>& columns) {
  std::vector<double> out;
  out.reserve(columns.size());
  for (size_t c : columns) {
    SPINESCAN_CHECK(c < row.size(), "feature row has ", row.size(), " values, column ", c, " asked");
    out.push_back(row[c]);
  }
  return out;
}

}  // namespace spinescan::aggregate
