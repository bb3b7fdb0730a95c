#include "spinescan/classify/baseline.h"

#include <algorithm>
#include <cmath>

#include "spinescan/classify/samples.h"
#include "spinescan/core/errors.h"

namespace spinescan::classify {
namespace {

struct RegionStats {
  double mean = 0, sd = 0, p10 = 0, p50 = 0, p90 = 0;
  int64_t count = 0;
};

// Statistics of the pixels whose centres fall in [x1, x2) x [y1, y2) (clipped to the slice).
RegionStats region(const Volume<float>& v, int slice, double x1, double y1, double x2, double y2) {
  const int64_t cols = v.size[0], rows = v.size[1];
  const float* plane = v.voxels.data() + static_cast<int64_t>(slice) * cols * rows;
  std::vector<float> values;
  const auto c0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(x1 - 0.5))),
             c1 = std::min<int64_t>(cols, static_cast<int64_t>(std::ceil(x2 - 0.5)));
  const auto r0 = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(y1 - 0.5))),
             r1 = std::min<int64_t>(rows, static_cast<int64_t>(std::ceil(y2 - 0.5)));
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) values.push_back(plane[r * cols + c]);
  RegionStats s;
  s.count = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  double sum = 0, sq = 0;
  for (float x : values) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  s.mean = sum / static_cast<double>(values.size());
  s.sd = std::sqrt(std::max(0.0, sq / static_cast<double>(values.size()) - s.mean * s.mean));
  // Three order statistics, not a sorted copy: each selection leaves the smaller values before
  // it and the larger after, so the outer two search only their side (the same values as a sort).
  auto rank = [&](double f) { return static_cast<ptrdiff_t>(f * static_cast<double>(values.size() - 1)); };
  const auto middle = values.begin() + rank(0.5);
  std::nth_element(values.begin(), middle, values.end());
  s.p50 = *middle;
  const auto low = values.begin() + rank(0.1), high = values.begin() + rank(0.9);
  std::nth_element(values.begin(), low, middle);  // low == middle: a no-op, *middle is the answer
  if (high > middle) std::nth_element(middle + 1, high, values.end());
  s.p10 = *low;
  s.p90 = *high;
  return s;
}

}  // namespace

const std::vector<std::string>& intensity_feature_names() {
  static const std::vector<std::string> names = {
      "body_mean", "body_sd", "body_p10", "body_p50", "body_p90", "superior_band_minus_body", "inferior_band_minus_body",
      "disc_above_mean", "disc_below_mean", "height_mm", "width_mm", "height_over_width", "anterior_minus_posterior_half"};
  return names;
}

std::vector<double> intensity_features(const Volume<float>& v, int slice, const ops::Box& b) {
  SPINESCAN_CHECK(slice >= 0 && slice < v.size[2], "feature slice ", slice, " outside the volume");
  const double w = b.width(), h = b.height();
  // The inner 80 % of the box is marrow; the outer rows are the endplates, where Modic and
  // infectious changes start; the discs sit above and below.
  const auto body = region(v, slice, b.x1 + 0.1 * w, b.y1 + 0.1 * h, b.x2 - 0.1 * w, b.y2 - 0.1 * h);
  const auto superior = region(v, slice, b.x1 + 0.1 * w, b.y1, b.x2 - 0.1 * w, b.y1 + 0.2 * h);
  const auto inferior = region(v, slice, b.x1 + 0.1 * w, b.y2 - 0.2 * h, b.x2 - 0.1 * w, b.y2);
  const auto disc_above = region(v, slice, b.x1 + 0.2 * w, b.y1 - 0.25 * h, b.x2 - 0.2 * w, b.y1);
  const auto disc_below = region(v, slice, b.x1 + 0.2 * w, b.y2, b.x2 - 0.2 * w, b.y2 + 0.25 * h);
  const auto anterior = region(v, slice, b.x1 + 0.1 * w, b.y1 + 0.1 * h, b.x1 + 0.5 * w, b.y2 - 0.1 * h);
  const auto posterior = region(v, slice, b.x1 + 0.5 * w, b.y1 + 0.1 * h, b.x2 - 0.1 * w, b.y2 - 0.1 * h);
  const double h_mm = h * v.spacing_mm[1], w_mm = w * v.spacing_mm[0];
  return {body.mean,
          body.sd,
          body.p10,
          body.p50,
          body.p90,
          superior.mean - body.mean,
          inferior.mean - body.mean,
          disc_above.mean,
          disc_below.mean,
          h_mm,
          w_mm,
          h_mm / std::max(1e-6, w_mm),
          anterior.mean - posterior.mean};
}

void LogisticRegression::fit(const std::vector<std::vector<double>>& x, const std::vector<int>& y, double l2, int iterations) {
  SPINESCAN_CHECK(!x.empty() && x.size() == y.size(), "logistic regression: need as many labels as rows, and > 0");
  const size_t n = x.size(), d = x[0].size();
  int64_t positives = 0;
  for (int v : y) positives += v;
  SPINESCAN_CHECK(positives > 0 && positives < static_cast<int64_t>(n), "logistic regression: need both classes");
  mean_.assign(d, 0);
  sd_.assign(d, 0);
  for (const auto& row : x) {
    SPINESCAN_CHECK(row.size() == d, "logistic regression: rows differ in length");
    for (size_t j = 0; j < d; ++j) mean_[j] += row[j] / static_cast<double>(n);
  }
  for (const auto& row : x)
    for (size_t j = 0; j < d; ++j) sd_[j] += (row[j] - mean_[j]) * (row[j] - mean_[j]) / static_cast<double>(n);
  for (auto& s : sd_) s = s > 1e-12 ? std::sqrt(s) : 1.0;
  std::vector<std::vector<double>> z(n, std::vector<double>(d));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) z[i][j] = (x[i][j] - mean_[j]) / sd_[j];
  const double w_pos = 0.5 * static_cast<double>(n) / static_cast<double>(positives);
  const double w_neg = 0.5 * static_cast<double>(n) / static_cast<double>(static_cast<int64_t>(n) - positives);
  w_.assign(d, 0);
  bias_ = 0;
  // Standardised features make the problem well conditioned; a fixed step converges.
  const double step = 0.5;
  std::vector<double> grad(d);
  for (int it = 0; it < iterations; ++it) {
    std::fill(grad.begin(), grad.end(), 0.0);
    double grad_b = 0;
    for (size_t i = 0; i < n; ++i) {
      double s = bias_;
      for (size_t j = 0; j < d; ++j) s += w_[j] * z[i][j];
      const double p = 1 / (1 + std::exp(-s));
      const double err = (p - y[i]) * (y[i] ? w_pos : w_neg) / static_cast<double>(n);
      for (size_t j = 0; j < d; ++j) grad[j] += err * z[i][j];
      grad_b += err;
    }
    for (size_t j = 0; j < d; ++j) w_[j] -= step * (grad[j] + l2 * w_[j]);
    bias_ -= step * grad_b;
  }
}

double LogisticRegression::predict(const std::vector<double>& x) const {
  SPINESCAN_CHECK(x.size() == w_.size(), "logistic regression: ", x.size(), " features, model has ", w_.size());
  double s = bias_;
  for (size_t j = 0; j < x.size(); ++j) s += w_[j] * (x[j] - mean_[j]) / sd_[j];
  return 1 / (1 + std::exp(-s));
}

nlohmann::json LogisticRegression::to_json() const {
  return {{"mean", mean_}, {"sd", sd_}, {"weights", w_}, {"bias", bias_}};
}

LogisticRegression fit_intensity_model(const ClassifierData& train) {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (const auto& s : train.samples)
    if (s.target >= 0) {
      x.push_back(intensity_features(train.cases[static_cast<size_t>(s.case_index)].normalized, s.slice, s.box));
      y.push_back(s.target);
    }
  SPINESCAN_CHECK(!y.empty(), "no labelled slices to fit the intensity model on");
  LogisticRegression model;
  model.fit(x, y);
  return model;
}

LogisticRegression LogisticRegression::from_json(const nlohmann::json& j) {
  LogisticRegression m;
  try {
    m.mean_ = j.at("mean").get<std::vector<double>>();
    m.sd_ = j.at("sd").get<std::vector<double>>();
    m.w_ = j.at("weights").get<std::vector<double>>();
    m.bias_ = j.at("bias").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("logistic regression: ") + e.what());
  }
  SPINESCAN_CHECK_AS(m.mean_.size() == m.w_.size() && m.sd_.size() == m.w_.size(), ModelError,
                     "logistic regression with ", m.w_.size(), " weights but ", m.mean_.size(), " means");
  return m;
}

}  // namespace spinescan::classify
