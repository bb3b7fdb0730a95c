// The logistic-regression baseline and its intensity features; Platt calibration.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "spinescan/classify/baseline.h"
#include "spinescan/classify/classifier.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/eval/classification_metrics.h"

using namespace spinescan;
using namespace spinescan::classify;

TEST(Baseline, LogisticRegressionSeparatesSeparableDataAndIsDeterministic) {
  Rng rng(3);
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (int i = 0; i < 200; ++i) {
    const int label = i % 3 == 0;  // imbalanced, 1:2
    // Feature 0 carries the class, feature 1 is noise on another scale.
    x.push_back({label ? rng.normal(2, 0.5) : rng.normal(-2, 0.5), rng.normal(100, 30)});
    y.push_back(label);
  }
  LogisticRegression a, b;
  a.fit(x, y);
  b.fit(x, y);
  std::vector<double> p;
  for (const auto& row : x) p.push_back(a.predict(row));
  EXPECT_DOUBLE_EQ(eval::roc_auc(p, y), 1.0);
  EXPECT_GT(std::abs(a.weights()[0]), 5 * std::abs(a.weights()[1]));
  EXPECT_EQ(a.to_json(), b.to_json());
  // Stored in a bundle as JSON and read back, it predicts the same.
  const LogisticRegression c = LogisticRegression::from_json(nlohmann::json::parse(a.to_json().dump()));
  for (const auto& row : x) EXPECT_DOUBLE_EQ(c.predict(row), a.predict(row));
  auto broken = a.to_json();
  broken["mean"].push_back(0.0);
  EXPECT_THROW(LogisticRegression::from_json(broken), ModelError);
  EXPECT_THROW(a.fit({{1.0}, {2.0}}, {1, 1}), std::exception);  // one class only
}

TEST(Baseline, FeaturesSeeABrightBodyAndABrightEndplate) {
  Volume<float> v;
  v.size = {40, 40, 3};
  v.spacing_mm = {1, 2, 3};
  v.voxels.assign(40 * 40 * 3, 0.2f);
  auto at = [&](int x, int y, int z) -> float& { return v.voxels[static_cast<size_t>(z) * 1600 + y * 40 + x]; };
  // Body on slice 1: columns 10..29, rows 10..29; marrow 0.5, top 2 rows (endplate) 0.9,
  // outside the inner 80 % that counts as marrow.
  for (int y = 10; y < 30; ++y)
    for (int x = 10; x < 30; ++x) at(x, y, 1) = y < 12 ? 0.9f : 0.5f;
  const ops::Box box{10, 10, 30, 30};
  const auto f = intensity_features(v, 1, box);
  const auto& names = intensity_feature_names();
  ASSERT_EQ(f.size(), names.size());
  auto feature = [&](const std::string& n) { return f[static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin())]; };
  EXPECT_NEAR(feature("body_p50"), 0.5, 1e-6);
  EXPECT_NEAR(feature("superior_band_minus_body"), 0.2, 1e-6);  // band rows 10..13: (2 x 0.9 + 2 x 0.5) / 4 - 0.5
  EXPECT_NEAR(feature("inferior_band_minus_body"), 0.0, 1e-6);
  EXPECT_NEAR(feature("disc_above_mean"), 0.2, 1e-6);
  EXPECT_DOUBLE_EQ(feature("height_mm"), 40);  // 20 rows x 2 mm
  EXPECT_DOUBLE_EQ(feature("width_mm"), 20);
  EXPECT_DOUBLE_EQ(feature("height_over_width"), 2);
  EXPECT_THROW(intensity_features(v, 3, box), std::exception);
}

TEST(Baseline, BodyQuantilesAreTheSortedValuesAtTheirRanks) {
  // body_p10/p50/p90 are order statistics of the marrow region (the inner 80 % of the box) found
  // by selection; they must be the values a sort puts at those ranks, for 1, 2 and many voxels.
  Volume<float> v;
  v.size = {40, 40, 1};
  v.spacing_mm = {1, 1, 1};
  Rng rng(11);
  for (int i = 0; i < 1600; ++i) v.voxels.push_back(static_cast<float>(rng.uniform()));
  const auto& names = intensity_feature_names();
  const auto index = [&](const std::string& n) { return static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin()); };
  // Box, then the marrow region's columns [c0, c1) and rows [r0, r1).
  const std::vector<std::pair<ops::Box, std::array<int, 4>>> cases = {
      {{10, 10, 30, 30}, {12, 28, 12, 28}}, {{5, 5, 6, 6}, {5, 6, 5, 6}}, {{5, 5, 7, 6}, {5, 7, 5, 6}}, {{3, 20, 16, 27}, {4, 15, 21, 26}}};
  for (const auto& [box, region] : cases) {
    std::vector<float> values;
    for (int y = region[2]; y < region[3]; ++y)
      for (int x = region[0]; x < region[1]; ++x) values.push_back(v.voxels[static_cast<size_t>(y * 40 + x)]);
    std::sort(values.begin(), values.end());
    const auto at = [&](double f) { return values[static_cast<size_t>(f * static_cast<double>(values.size() - 1))]; };
    const auto f = intensity_features(v, 0, box);
    SCOPED_TRACE(values.size());
    EXPECT_FLOAT_EQ(f[index("body_p10")], at(0.1));
    EXPECT_FLOAT_EQ(f[index("body_p50")], at(0.5));
    EXPECT_FLOAT_EQ(f[index("body_p90")], at(0.9));
  }
}

TEST(Calibration, PlattScalingRecoversAKnownLogisticModel) {
  Rng rng(5);
  std::vector<double> logits;
  std::vector<int> labels;
  for (int i = 0; i < 20000; ++i) {
    const double z = rng.normal(0, 2);
    logits.push_back(z);
    labels.push_back(rng.uniform() < 1 / (1 + std::exp(-(0.5 * z - 1.0))));
  }
  const auto [scale, bias] = fit_platt(logits, labels);
  EXPECT_NEAR(scale, 0.5, 0.05);
  EXPECT_NEAR(bias, -1.0, 0.08);
  // One class only: the ridge keeps the answer finite.
  const auto [s1, b1] = fit_platt({1.0, 2.0}, {1, 1});
  EXPECT_TRUE(std::isfinite(s1) && std::isfinite(b1));
}
