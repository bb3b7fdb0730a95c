#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/io/normalize.h"

using namespace spinescan;

namespace {

Volume<float> random_volume(uint64_t seed, std::array<int64_t, 3> size = {16, 12, 6}) {
  Volume<float> v;
  v.size = size;
  v.voxels.resize(v.num_voxels());
  Rng rng(seed);
  for (auto& x : v.voxels) x = static_cast<float>(100 + 50 * rng.uniform());
  return v;
}

}  // namespace

TEST(Percentile, InterpolatesBetweenRanks) {
  EXPECT_DOUBLE_EQ(percentile({0, 10, 20, 30, 40}, 50), 20);
  EXPECT_DOUBLE_EQ(percentile({0, 10, 20, 30, 40}, 25), 10);
  EXPECT_DOUBLE_EQ(percentile({40, 0, 30, 10}, 50), 20);  // rank 1.5 between 10 and 30
  EXPECT_DOUBLE_EQ(percentile({5}, 99), 5);
}

TEST(Normalize, InvariantToGainAndOffset) {
  // Same anatomy seen by two scanners: another gain (1.5 T vs 3 T) and an offset.
  const Volume<float> a = random_volume(1);
  Volume<float> b = a;
  for (auto& x : b.voxels) x = 3.7f * x + 250.0f;
  const Volume<float> na = normalize_intensity(a), nb = normalize_intensity(b);
  ASSERT_EQ(na.voxels.size(), nb.voxels.size());
  for (size_t i = 0; i < na.voxels.size(); ++i) ASSERT_NEAR(na.voxels[i], nb.voxels[i], 1e-5);
}

TEST(Normalize, MapsPercentilesToZeroAndOneAndClipsOutliers) {
  Volume<float> v;
  v.size = {1000, 1, 2};
  v.voxels.resize(2000);
  for (int i = 0; i < 2000; ++i) v.voxels[i] = static_cast<float>(1 + i % 1000);  // 1..1000 twice
  v.voxels[0] = 1e6f;  // a single hot voxel must not set the scale
  NormalizeOptions o;
  o.low_percentile = 1;
  o.high_percentile = 99;
  o.ignore_background = false;
  const Volume<float> n = normalize_intensity(v, o);
  EXPECT_FLOAT_EQ(n.voxels[0], 1.0f);  // clipped
  const float mid = n.voxels[499];      // value 500, about the median
  EXPECT_NEAR(mid, 0.5, 0.02);
  EXPECT_FLOAT_EQ(n.voxels[1], 0.0f);  // value 2, below the 1st percentile (~11)
  for (float x : n.voxels) {
    EXPECT_GE(x, 0.0f);
    EXPECT_LE(x, 1.0f);
  }
}

TEST(Normalize, BackgroundDoesNotPullTheLowPercentile) {
  Volume<float> v = random_volume(2);
  Volume<float> padded = v;
  padded.size[2] *= 3;  // two thirds of the volume is zero padding
  padded.voxels.resize(padded.num_voxels(), 0.0f);
  const Volume<float> a = normalize_intensity(v), b = normalize_intensity(padded);
  // Not bit-identical: without padding the volume's own minimum voxel counts as background.
  for (size_t i = 0; i < v.voxels.size(); ++i) ASSERT_NEAR(a.voxels[i], b.voxels[i], 2e-3);
  NormalizeOptions keep_background;
  keep_background.ignore_background = false;
  const Volume<float> c = normalize_intensity(padded, keep_background);
  EXPECT_GT(std::abs(c.voxels[0] - a.voxels[0]), 0.05) << "the padding should have shifted the scale";
}

TEST(Normalize, PerSliceScalingEqualisesSlicesRescaledOnTheirOwn) {
  Volume<float> v = random_volume(3, {20, 20, 2});
  for (int64_t i = 400; i < 800; ++i) v.voxels[i] = v.voxels[i - 400] * 0.25f + 7;  // slice 1 = rescaled slice 0
  NormalizeOptions o;
  o.per_slice = true;
  const Volume<float> n = normalize_intensity(v, o);
  for (int64_t i = 0; i < 400; ++i) ASSERT_NEAR(n.voxels[i], n.voxels[i + 400], 1e-5);
}

TEST(Normalize, ConstantEmptyAndNonFiniteVolumesAreErrors) {
  Volume<float> constant = random_volume(4);
  std::fill(constant.voxels.begin(), constant.voxels.end(), 42.0f);
  EXPECT_THROW(normalize_intensity(constant), DataError);
  Volume<float> empty;
  EXPECT_THROW(normalize_intensity(empty), DataError);
  Volume<float> nan = random_volume(5);
  nan.voxels[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(normalize_intensity(nan), DataError);
  NormalizeOptions bad;
  bad.low_percentile = 60;
  bad.high_percentile = 40;
  EXPECT_THROW(normalize_intensity(random_volume(6), bad), ConfigError);
}
