#include <gtest/gtest.h>

#include "spinescan/classify/crops.h"
#include "spinescan/core/errors.h"

using namespace spinescan;
using namespace spinescan::classify;

namespace {
// Canonical volume whose voxel value encodes its position: slice * 10000 + row * 100 + col.
Volume<float> coded_volume(int64_t cols, int64_t rows, int64_t slices, std::array<double, 3> spacing = {1, 1, 1}) {
  Volume<float> v;
  v.size = {cols, rows, slices};
  v.spacing_mm = spacing;
  v.voxels.resize(v.num_voxels());
  for (int64_t k = 0; k < slices; ++k)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) v.at(c, r, k) = static_cast<float>(k * 10000 + r * 100 + c);
  return v;
}
}  // namespace

TEST(Crops, CentredOnTheBoxWithContextAndSquareInMillimetres) {
  const Volume<float> v = coded_volume(80, 80, 3);
  CropOptions o;
  o.size = 40;
  o.context = 0.25;
  // Box 20 px wide, 10 px high, centre (40, 30): side = 20 * 1.5 = 30 mm, 0.75 mm per output px.
  const auto crop = extract_crop(v, 1, {30, 25, 50, 35}, o);
  ASSERT_EQ(crop.size(), 40u * 40u);
  // Output pixel (x, y) samples source centre coordinate 25 + (x + 0.5) * 0.75 - 0.5 (cols),
  // 15 + (y + 0.5) * 0.75 - 0.5 (rows); value = 10000 + row * 100 + col, linear, so exact.
  for (int y : {0, 19, 39})
    for (int x : {0, 20, 39}) {
      const double col = 25 + (x + 0.5) * 0.75 - 0.5, row = 15 + (y + 0.5) * 0.75 - 0.5;
      EXPECT_NEAR(crop[static_cast<size_t>(y) * 40 + x], 10000 + row * 100 + col, 1e-2) << x << "," << y;
    }
}

TEST(Crops, AnisotropicPixelsStillGiveASquareFieldInMillimetres) {
  const Volume<float> v = coded_volume(100, 100, 1, {0.5, 2.0, 1});
  CropOptions o;
  o.size = 10;
  o.context = 0;
  // Box 40 cols x 10 rows = 20 mm x 20 mm: the crop spans 40 cols and 10 rows.
  const auto crop = extract_crop(v, 0, {30, 40, 70, 50}, o);
  const double first_col = 30 + 0.5 * 4 - 0.5, first_row = 40 + 0.5 * 1 - 0.5;
  EXPECT_NEAR(crop[0], first_row * 100 + first_col, 1e-2);
  EXPECT_NEAR(crop[9], first_row * 100 + first_col + 9 * 4, 1e-2);
  EXPECT_NEAR(crop[90], (first_row + 9) * 100 + first_col, 1e-2);
}

TEST(Crops, OutsideTheVolumeIsZeroAndNeighbourSlicesAreChannels) {
  const Volume<float> v = coded_volume(20, 20, 3);
  CropOptions o;
  o.size = 16;
  o.context = 0.5;
  o.neighbours = 1;
  const auto crop = extract_crop(v, 0, {0, 0, 8, 8}, o);  // at the corner: half the window is outside
  ASSERT_EQ(crop.size(), 3u * 16u * 16u);
  EXPECT_EQ(crop[0], 0.0f);  // top-left output pixel lies before column 0
  // Channel 0 = slice -1, clamped to slice 0; channel 1 = slice 0; channel 2 = slice 1.
  const size_t inside = 15 * 16 + 15, plane = 256;
  EXPECT_LT(crop[inside], 10000.0f);
  EXPECT_EQ(crop[inside], crop[plane + inside]);
  EXPECT_NEAR(crop[2 * plane + inside] - crop[plane + inside], 10000.0f, 1e-2);
}

TEST(Crops, JitterMovesAndScalesTheWindow) {
  const Volume<float> v = coded_volume(100, 100, 1);
  CropOptions o;
  o.size = 11;
  o.context = 0;
  const ops::Box box{40, 40, 60, 60};
  const auto centre = extract_crop(v, 0, box, o)[5 * 11 + 5];
  CropJitter shift;
  shift.shift_x = 0.1;  // 2 px right
  EXPECT_NEAR(extract_crop(v, 0, box, o, shift)[5 * 11 + 5] - centre, 2.0f, 1e-3);
  CropJitter zoom;
  zoom.scale = 1.0;  // twice the side: the corner moves twice as far from the centre
  const auto a = extract_crop(v, 0, box, o)[0], b = extract_crop(v, 0, box, o, zoom)[0];
  EXPECT_NEAR(centre - b, 2 * (centre - a), 1.0);
  EXPECT_THROW(extract_crop(v, 1, box, o), DataError);
  CropOptions bad;
  bad.size = 4;
  EXPECT_THROW(extract_crop(v, 0, box, bad), ConfigError);
}
