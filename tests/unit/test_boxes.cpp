#include <gtest/gtest.h>

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
  EXPECT_EQ(boxes[0][0].box.x1, 3);
  EXPECT_EQ(boxes[0][0].box.x2, 7);
  EXPECT_EQ(boxes[0][0].box.y1, 2);
  EXPECT_EQ(boxes[0][0].box.y2, 5);
  EXPECT_EQ(boxes[0][0].area_px, 12);
  EXPECT_EQ(boxes[0][1].label, 2);
  EXPECT_EQ(boxes[0][1].box.width(), 3);
  EXPECT_EQ(boxes[0][1].box.height(), 6);
  EXPECT_TRUE(boxes[1].empty());
  ASSERT_EQ(boxes[2].size(), 1u);
  EXPECT_EQ(boxes[2][0].box.x1, 0);
  EXPECT_EQ(boxes[2][0].box.x2, 20);
  EXPECT_EQ(boxes[2][0].box.y1, 29);
  EXPECT_EQ(boxes[2][0].box.y2, 30);
}

TEST(Boxes, NonConvexBodyGetsItsBoundingBoxAndTrueArea) {
  auto v = blank(10, 10, 1);
  paint(v, 0, 1, 1, 1, 8, 5);  // an L shape
  paint(v, 0, 1, 7, 8, 8, 5);
  const auto boxes = boxes_per_slice(v);
  ASSERT_EQ(boxes[0].size(), 1u);
  const BodyBox& b = boxes[0][0];
  EXPECT_EQ(b.box.x1, 1);
  EXPECT_EQ(b.box.x2, 8);
  EXPECT_EQ(b.box.y1, 1);
  EXPECT_EQ(b.box.y2, 9);
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

TEST(Boxes, OneBoxTypeMeasuresItselfAndItsOverlap) {
  const ops::Box a{10, 20, 30, 60};  // 20 wide, 40 high
  EXPECT_DOUBLE_EQ(a.width(), 20);
  EXPECT_DOUBLE_EQ(a.height(), 40);
  EXPECT_DOUBLE_EQ(a.area(), 800);
  EXPECT_DOUBLE_EQ(a.centre_x(), 20);
  EXPECT_DOUBLE_EQ(a.centre_y(), 40);
  // b overlaps a on 10 x 20 = 200 px; union 800 + 800 - 200.
  const ops::Box b{20, 40, 40, 80};
  EXPECT_DOUBLE_EQ(ops::iou(a, b), 200.0 / 1400.0);
  EXPECT_DOUBLE_EQ(ops::iou(b, a), ops::iou(a, b));
  EXPECT_DOUBLE_EQ(ops::iou(a, a), 1);
  // Touching edges share no pixel (far edges are exclusive).
  EXPECT_DOUBLE_EQ(ops::iou(a, {30, 20, 50, 60}), 0);
  const ops::Box both = ops::enclosing(a, b);
  EXPECT_DOUBLE_EQ(both.x1, 10);
  EXPECT_DOUBLE_EQ(both.y1, 20);
  EXPECT_DOUBLE_EQ(both.x2, 40);
  EXPECT_DOUBLE_EQ(both.y2, 80);
}
