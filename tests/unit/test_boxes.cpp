#include <gtest/gtest.h>

#include "spinescan/core/errors.h"
#include "spinescan/data/boxes.h"

using namespace spinescan;

namespace {

// Canonical label volume: cols x rows x slices, filled with rectangles by hand.
Volume<uint16_t> blank(int64_t cols, int64_t rows, int64_t slices) {
  Volume<uint16_t> v;
  v.size = {cols, rows, slices};
  v.voxels.assign(v.num_voxels(), 0);
  return v;
}

void paint(Volume<uint16_t>& v, int slice, int x0, int x1, int y0, int y1, uint16_t label) {
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) v.at(x, y, slice) = label;
}

}  // namespace

TEST(Boxes, RectanglesGiveTheirPixelEdgeBoxes) {
  auto v = blank(20, 30, 3);
  paint(v, 0, 3, 6, 2, 4, 1);    // cols 3..6, rows 2..4
  paint(v, 0, 10, 12, 20, 25, 2);
  paint(v, 2, 0, 19, 29, 29, 2);  // a full-width bottom row on slice 2
  const auto boxes = boxes_per_slice(v);
  ASSERT_EQ(boxes.size(), 3u);
  ASSERT_EQ(boxes[0].size(), 2u);
  EXPECT_EQ(boxes[0][0].label, 1);
  EXPECT_EQ(boxes[0][0].x1, 3);
  EXPECT_EQ(boxes[0][0].x2, 7);
  EXPECT_EQ(boxes[0][0].y1, 2);
  EXPECT_EQ(boxes[0][0].y2, 5);
  EXPECT_EQ(boxes[0][0].area_px, 12);
  EXPECT_EQ(boxes[0][1].label, 2);
  EXPECT_EQ(boxes[0][1].x2 - boxes[0][1].x1, 3);
  EXPECT_EQ(boxes[0][1].y2 - boxes[0][1].y1, 6);
  EXPECT_TRUE(boxes[1].empty());
  ASSERT_EQ(boxes[2].size(), 1u);
  EXPECT_EQ(boxes[2][0].x1, 0);
  EXPECT_EQ(boxes[2][0].x2, 20);
  EXPECT_EQ(boxes[2][0].y1, 29);
  EXPECT_EQ(boxes[2][0].y2, 30);
}

TEST(Boxes, NonConvexBodyGetsItsBoundingBoxAndTrueArea) {
  auto v = blank(10, 10, 1);
  paint(v, 0, 1, 1, 1, 8, 5);  // an L shape
  paint(v, 0, 1, 7, 8, 8, 5);
  const auto boxes = boxes_per_slice(v);
  ASSERT_EQ(boxes[0].size(), 1u);
  const BodyBox& b = boxes[0][0];
  EXPECT_EQ(b.x1, 1);
  EXPECT_EQ(b.x2, 8);
  EXPECT_EQ(b.y1, 1);
  EXPECT_EQ(b.y2, 9);
  EXPECT_EQ(b.area_px, 8 + 6);
}

TEST(Boxes, SliversBelowTheMinimumAreaAreDropped) {
  auto v = blank(10, 10, 1);
  paint(v, 0, 0, 4, 0, 4, 1);  // 25 px
  paint(v, 0, 8, 8, 8, 9, 2);  // 2 px
  EXPECT_EQ(boxes_per_slice(v, 1)[0].size(), 2u);
  const auto filtered = boxes_per_slice(v, 3)[0];
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].label, 1);
}

TEST(Boxes, SamplesJoinLevelAndPathologyFromTheCsv) {
  auto v = blank(10, 10, 2);
  paint(v, 1, 2, 3, 2, 3, 1);
  paint(v, 1, 5, 6, 5, 6, 2);
  VertebraRow a;
  a.case_name = "c";
  a.label = 1;
  a.level = "L4";
  a.pathological = true;
  VertebraRow b = a;
  b.label = 2;
  b.level = "L5";
  b.pathological.reset();
  const auto samples = slice_samples(v, {a, b});
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_TRUE(samples[0].targets.empty());
  ASSERT_EQ(samples[1].targets.size(), 2u);
  EXPECT_EQ(samples[1].slice, 1);
  EXPECT_EQ(samples[1].targets[0].level, "L4");
  EXPECT_EQ(samples[1].targets[0].pathological, std::optional<bool>(true));
  EXPECT_FALSE(samples[1].targets[1].pathological.has_value());
  EXPECT_THROW(slice_samples(v, {a}), DataError);  // label 2 has no row
}
