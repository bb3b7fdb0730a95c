// Detector augmentation: repeatable from the seed, and the boxes it hands the loss are the
// extents of the bodies after the same geometry the image went through.
#include <gtest/gtest.h>

#include <cmath>

#include "spinescan/core/errors.h"
#include "spinescan/detect/augment.h"

namespace spinescan::detect {
namespace {

constexpr int kSize = 96;

// One body (label 1) on [x1, x2) x [y1, y2): bright (0.9) on a dim (0.1) background.
CanvasSlice body_slice(const std::string& case_name, int slice, int x1, int y1, int x2, int y2, float body = 0.9f) {
  CanvasSlice s;
  s.case_name = case_name;
  s.slice = slice;
  s.image.assign(kSize * kSize, 0.1f);
  s.labels.assign(kSize * kSize, 0);
  for (int y = y1; y < y2; ++y)
    for (int x = x1; x < x2; ++x) {
      s.image[static_cast<size_t>(y) * kSize + x] = body;
      s.labels[static_cast<size_t>(y) * kSize + x] = 1;
    }
  return s;
}

std::vector<float> box_of(const Batch& b, int image = 0) {
  const auto t = b.boxes[static_cast<size_t>(image)];
  if (t.size(0) == 0) return {};
  return {t[0][0].item<float>(), t[0][1].item<float>(), t[0][2].item<float>(), t[0][3].item<float>()};
}

// Bounding box of the image's pixels above `threshold` (canvas px, exclusive ends).
std::vector<float> bright_extent(const Batch& b, float threshold) {
  const auto im = b.images[0][0].contiguous();
  const auto a = im.accessor<float, 2>();
  int x1 = kSize, y1 = kSize, x2 = -1, y2 = -1;
  for (int y = 0; y < kSize; ++y)
    for (int x = 0; x < kSize; ++x)
      if (a[y][x] > threshold) {
        x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x + 1), y2 = std::max(y2, y + 1);
      }
  return {float(x1), float(y1), float(x2), float(y2)};
}

TEST(DetectorAugment, TheSameSeedGivesTheSameBatchAndAnotherSeedDoesNot) {
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 30, 30, 50, 60), body_slice("a", 1, 32, 28, 52, 62),
                                           body_slice("a", 2, 34, 30, 54, 60)};
  const AugmentRanges ranges;
  auto batch_from = [&](uint64_t seed) {
    Rng rng(seed);
    std::vector<SliceAugmentation> augs;
    for (int i = 0; i < 3; ++i) augs.push_back(draw_augmentation(ranges, 1.0, kSize, rng));
    return make_batch(slices, {0, 1, 2}, augs, CanvasOptions{kSize}, 4);
  };
  const Batch a = batch_from(7), b = batch_from(7), c = batch_from(8);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(a.boxes[i], b.boxes[i]));
  EXPECT_FALSE(torch::equal(a.images, c.images));
}

TEST(DetectorAugment, StrengthZeroIsTheIdentity) {
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 38, 30, 58, 66)};
  Rng rng(3);
  const Batch b = make_batch(slices, {0}, {draw_augmentation(AugmentRanges{}, 0.0, kSize, rng)}, CanvasOptions{kSize}, 4);
  EXPECT_EQ(box_of(b), (std::vector<float>{38, 30, 58, 66}));
  for (int64_t k = 0; k < kSize * kSize; ++k)
    ASSERT_FLOAT_EQ(b.images[0][0].view({-1})[k].item<float>(), slices[0].image[static_cast<size_t>(k)]);
}

TEST(DetectorAugment, ScaleAndRotationMoveTheBoxAsTheGeometrySays) {
  // Body 20 x 36 px centred on the canvas centre (48, 48).
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 38, 30, 58, 66)};
  SliceAugmentation zoom;
  zoom.scale = 1.2;
  const auto z = box_of(make_batch(slices, {0}, {zoom}, CanvasOptions{kSize}, 4));
  ASSERT_EQ(z.size(), 4u);
  EXPECT_NEAR(z[0], 48 - 10 * 1.2, 1.0);
  EXPECT_NEAR(z[2], 48 + 10 * 1.2, 1.0);
  EXPECT_NEAR(z[1], 48 - 18 * 1.2, 1.0);
  EXPECT_NEAR(z[3], 48 + 18 * 1.2, 1.0);

  SliceAugmentation turn;
  turn.angle_rad = 15 * M_PI / 180;
  const auto r = box_of(make_batch(slices, {0}, {turn}, CanvasOptions{kSize}, 4));
  ASSERT_EQ(r.size(), 4u);
  const double c = std::cos(turn.angle_rad), s = std::sin(turn.angle_rad);
  EXPECT_NEAR(r[2] - r[0], 20 * c + 36 * s, 1.5);  // the rotated rectangle's extent
  EXPECT_NEAR(r[3] - r[1], 20 * s + 36 * c, 1.5);
  EXPECT_NEAR((r[0] + r[2]) / 2, 48, 1.0);
  EXPECT_NEAR((r[1] + r[3]) / 2, 48, 1.0);
}

TEST(DetectorAugment, RandomGeometryKeepsTheBoxOnTheBodyInTheImage) {
  AugmentRanges geometry_only;
  geometry_only.max_log_gamma = geometry_only.max_gain = geometry_only.max_offset = 0;
  geometry_only.max_bias = geometry_only.max_noise_sd = 0;
  geometry_only.blur_probability = geometry_only.low_resolution_probability = 0;
  geometry_only.thick_slice_probability = geometry_only.volume_scaling_probability = 0;
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 34, 26, 56, 62)};
  Rng rng(11);
  int cropped = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const auto aug = draw_augmentation(geometry_only, 1.0, kSize, rng);
    cropped += aug.crop;
    const Batch b = make_batch(slices, {0}, {aug}, CanvasOptions{kSize}, 4);
    const auto box = box_of(b);
    if (box.empty()) continue;  // cropped away entirely
    const auto bright = bright_extent(b, 0.5f);
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(box[k], bright[k], 1.0) << "trial " << trial << " coordinate " << k;
    if (aug.crop) {
      EXPECT_GE(box[0], aug.fov_x1);
      EXPECT_GE(box[1], aug.fov_y1);
      EXPECT_LE(box[2], aug.fov_x2);
      EXPECT_LE(box[3], aug.fov_y2);
    }
  }
  EXPECT_GT(cropped, 0);  // the field-of-view crop was exercised
}

TEST(DetectorAugment, AFieldOfViewCropCutsTheBoxAndDropsWhatIsTooSmall) {
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 38, 30, 58, 66)};
  SliceAugmentation crop;
  crop.crop = true;
  crop.fov_x1 = 0, crop.fov_y1 = 0, crop.fov_x2 = kSize, crop.fov_y2 = 50;
  EXPECT_EQ(box_of(make_batch(slices, {0}, {crop}, CanvasOptions{kSize}, 4)), (std::vector<float>{38, 30, 58, 50}));
  crop.fov_y2 = 31;  // one row of the body left: 20 px, under the 40 px minimum
  EXPECT_TRUE(box_of(make_batch(slices, {0}, {crop}, CanvasOptions{kSize}, 40)).empty());
}

TEST(DetectorAugment, ThickSlicesAverageTheCaseNeighboursAndKeepTheCentreBox) {
  std::vector<CanvasSlice> slices = {body_slice("a", 4, 38, 30, 58, 66, 0.3f), body_slice("a", 5, 38, 30, 58, 66, 0.6f),
                                     body_slice("a", 6, 38, 30, 58, 66, 0.9f), body_slice("b", 7, 38, 30, 58, 66, 0.0f)};
  SliceAugmentation thick;
  thick.thick_half_slices = 1;
  Batch b = make_batch(slices, {1}, {thick}, CanvasOptions{kSize}, 4);
  EXPECT_NEAR(b.images[0][0][40][45].item<float>(), 0.6, 1e-6);  // (0.3 + 0.6 + 0.9) / 3
  EXPECT_EQ(box_of(b), (std::vector<float>{38, 30, 58, 66}));
  // Slice 6's next neighbour belongs to another case: only slices 5 and 6 are averaged.
  b = make_batch(slices, {2}, {thick}, CanvasOptions{kSize}, 4);
  EXPECT_NEAR(b.images[0][0][40][45].item<float>(), 0.75, 1e-6);
}

TEST(DetectorAugment, SagittalContextStacksTheNeighboursAsChannelsUnderOneTransform) {
  std::vector<CanvasSlice> slices;
  for (int k = 0; k < 7; ++k) {
    slices.push_back(body_slice("a", k, 38, 30, 58, 66, 0.1f * static_cast<float>(k + 1)));
    slices.back().volume_slices = 7;
    slices.back().slice_mm = 1;
  }
  CanvasOptions context{kSize};
  context.context_mm = 2;
  SliceAugmentation turn;
  turn.angle_rad = 0.3;
  turn.scale = 1.1;
  turn.blur_sigma_px = 1.0;
  turn.thick_half_slices = 1;
  const Batch b = make_batch(slices, {3}, {turn}, context, 4);
  ASSERT_EQ(b.images.sizes(), (std::vector<int64_t>{1, 3, kSize, kSize}));
  // Each channel is what the single-slice input of slices 1, 3 and 5 becomes under the same
  // transform (thick, rotated, blurred); the boxes are the centre slice's.
  for (int c = 0; c < 3; ++c) {
    const Batch alone = make_batch(slices, {static_cast<size_t>(1 + 2 * c)}, {turn}, CanvasOptions{kSize}, 4);
    EXPECT_TRUE(torch::allclose(b.images[0][c], alone.images[0][0], 1e-6, 1e-6)) << "channel " << c;
    if (c == 1) EXPECT_EQ(box_of(b), box_of(alone));
  }
  EXPECT_FALSE(torch::allclose(b.images[0][0], b.images[0][2]));
}

TEST(DetectorAugment, VolumeScalingAppliesThePowerOfTheSlicesGain) {
  std::vector<CanvasSlice> slices = {body_slice("a", 0, 38, 30, 58, 66, 0.8f)};
  slices[0].volume_gain = 0.5f;
  SliceAugmentation half;
  half.volume_scaling = 1;
  EXPECT_NEAR(make_batch(slices, {0}, {half}, CanvasOptions{kSize}, 4).images[0][0][40][45].item<float>(), 0.4, 1e-6);
  half.volume_scaling = 0.5;
  EXPECT_NEAR(make_batch(slices, {0}, {half}, CanvasOptions{kSize}, 4).images[0][0][40][45].item<float>(), 0.8 * std::sqrt(0.5), 1e-6);
}

TEST(DetectorAugment, LowResolutionAndBlurSoftenEdgesButKeepTheBox) {
  const std::vector<CanvasSlice> slices = {body_slice("a", 0, 38, 30, 58, 66)};
  SliceAugmentation low;
  low.downsample_x = 2.5;
  low.downsample_y = 1.5;
  low.blur_sigma_px = 1.0;
  const Batch b = make_batch(slices, {0}, {low}, CanvasOptions{kSize}, 4);
  EXPECT_EQ(box_of(b), (std::vector<float>{38, 30, 58, 66}));
  const float edge = b.images[0][0][48][38].item<float>(), inside = b.images[0][0][48][48].item<float>();
  EXPECT_LT(edge, 0.8f);  // the sharp edge (0.9 against 0.1) is smeared
  EXPECT_GT(inside, 0.85f);
  EXPECT_NEAR(bright_extent(b, 0.5f)[0], 38, 1.5);
}

}  // namespace
}  // namespace spinescan::detect

namespace spinescan::detect {
namespace {

TEST(DetectorAugment, PresetsNameTheirRangesAndUnknownOnesAreRefused) {
  const AugmentRanges basic = augment_preset("basic");
  EXPECT_EQ(basic.max_rotation_deg, 8);
  Rng rng(5);
  for (int i = 0; i < 50; ++i) {
    const auto a = draw_augmentation(basic, 1.0, kSize, rng);
    EXPECT_FALSE(a.crop);
    EXPECT_EQ(a.thick_half_slices, 0);
    EXPECT_EQ(a.blur_sigma_px, 0);
    EXPECT_EQ(a.downsample_x, 1);
    EXPECT_EQ(a.volume_scaling, 0);
    EXPECT_LE(std::abs(a.angle_rad), 8 * M_PI / 180);
  }
  EXPECT_EQ(augment_preset("scanner").max_rotation_deg, 15);
  EXPECT_THROW(augment_preset("strong"), ConfigError);
}

}  // namespace
}  // namespace spinescan::detect
