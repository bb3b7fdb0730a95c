#include <gtest/gtest.h>

#include "spinescan/core/errors.h"
#include "spinescan/detect/canvas.h"
#include "spinescan/detect/slice_data.h"

using namespace spinescan;
using namespace spinescan::detect;

TEST(Canvas, GeometryCentresTheSliceAndMapsBothWays) {
  CanvasOptions o;  // 256 px of 1.25 mm
  // SPIDER-like slice: 512 cols x 640 rows of 0.46875 mm = 240 x 300 mm, fits at 1.25 mm.
  const CanvasGeometry g = canvas_geometry(512, 640, 0.46875, 0.46875, o);
  EXPECT_DOUBLE_EQ(g.pixel_mm, 1.25);
  EXPECT_DOUBLE_EQ(g.scale_x, 0.375);
  EXPECT_DOUBLE_EQ(g.offset_x, (256 - 192) / 2.0);
  EXPECT_DOUBLE_EQ(g.offset_y, (256 - 240) / 2.0);
  EXPECT_DOUBLE_EQ(g.to_source_x(g.to_canvas_x(123.0)), 123.0);
  EXPECT_DOUBLE_EQ(g.to_canvas_y(640), 256 - 8.0);
  // A 381 mm field does not fit at 1.25 mm: letterboxed at 381 / 256 mm per pixel.
  const CanvasGeometry big = canvas_geometry(314, 381, 1.0, 1.0, o);
  EXPECT_DOUBLE_EQ(big.pixel_mm, 381.0 / 256.0);
  EXPECT_DOUBLE_EQ(big.to_canvas_y(0), 0.0);
  EXPECT_DOUBLE_EQ(big.to_canvas_y(381), 256.0);
  CanvasOptions bad;
  bad.size = 100;
  EXPECT_THROW(canvas_geometry(10, 10, 1, 1, bad), ConfigError);
}

TEST(Canvas, ResamplingKeepsFlatRegionsFlatAndZeroOutside) {
  CanvasOptions o;
  o.size = 64;
  o.pixel_mm = 2.0;
  const int64_t cols = 80, rows = 50;  // 40 x 25 mm at 0.5 mm
  std::vector<float> slice(static_cast<size_t>(cols * rows), 0.7f);
  const auto g = canvas_geometry(cols, rows, 0.5, 0.5, o);
  const auto out = resample_to_canvas(slice.data(), cols, rows, g, o.size);
  // 40 x 25 mm at 2 mm: 20 x 12.5 px, centred: x in [22, 42), y in [25.75, 38.25).
  EXPECT_NEAR(out[32 * 64 + 32], 0.7f, 1e-5);
  EXPECT_NEAR(out[30 * 64 + 23], 0.7f, 1e-5);
  EXPECT_EQ(out[25 * 64 + 32], 0.0f);
  EXPECT_EQ(out[2 * 64 + 2], 0.0f);
  EXPECT_EQ(out[32 * 64 + 60], 0.0f);
}

TEST(Canvas, DownsamplingAveragesInsteadOfAliasing) {
  // A one-pixel checkerboard at 0.5 mm seen at 2 mm must come out mid-grey, not as a pattern.
  CanvasOptions o;
  o.size = 64;
  o.pixel_mm = 2.0;
  const int64_t cols = 100, rows = 100;
  std::vector<float> slice(static_cast<size_t>(cols * rows));
  for (int64_t y = 0; y < rows; ++y)
    for (int64_t x = 0; x < cols; ++x) slice[static_cast<size_t>(y * cols + x)] = ((x + y) % 2) ? 1.0f : 0.0f;
  const auto g = canvas_geometry(cols, rows, 0.5, 0.5, o);
  const auto out = resample_to_canvas(slice.data(), cols, rows, g, o.size);
  for (int y = 24; y < 40; ++y)
    for (int x = 24; x < 40; ++x) EXPECT_NEAR(out[static_cast<size_t>(y * 64 + x)], 0.5f, 0.05f);
}

TEST(Canvas, LabelMapsAndTheirBoxes) {
  CanvasOptions o;
  o.size = 64;
  o.pixel_mm = 1.0;
  const int64_t cols = 64, rows = 64;
  std::vector<uint16_t> labels(static_cast<size_t>(cols * rows), 0);
  for (int y = 10; y < 20; ++y)
    for (int x = 5; x < 25; ++x) labels[static_cast<size_t>(y * cols + x)] = 3;
  labels[static_cast<size_t>(60 * cols + 60)] = 4;  // a one-pixel sliver
  const auto g = canvas_geometry(cols, rows, 1.0, 1.0, o);
  const auto canvas = labels_to_canvas(labels.data(), cols, rows, g, o.size);
  const auto boxes = boxes_from_label_map(canvas.data(), o.size, 2);
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0].x1, 5);
  EXPECT_EQ(boxes[0].x2, 25);
  EXPECT_EQ(boxes[0].y1, 10);
  EXPECT_EQ(boxes[0].y2, 20);
  EXPECT_EQ(boxes_from_label_map(canvas.data(), o.size, 1).size(), 2u);
}

TEST(Canvas, SagittalContextReadsSlicesAFixedDistanceAwayClampedToTheVolume) {
  CanvasOptions one;
  EXPECT_EQ(one.channels(), 1);
  EXPECT_EQ(one.channel_slices(5, 20, 1.0), (std::vector<int>{5}));
  CanvasOptions context;
  context.context_mm = 3;
  EXPECT_EQ(context.channels(), 3);
  EXPECT_EQ(context.channel_slices(10, 77, 1.0), (std::vector<int>{7, 10, 13}));  // 1 mm slices: 3 away
  EXPECT_EQ(context.channel_slices(10, 23, 4.4), (std::vector<int>{9, 10, 11}));  // thicker than the context: 1 away
  EXPECT_EQ(context.channel_slices(1, 77, 1.0), (std::vector<int>{0, 1, 4}));     // the edge slice repeats
  EXPECT_EQ(context.channel_slices(75, 77, 1.0), (std::vector<int>{72, 75, 76}));
  context.context_mm = -1;
  EXPECT_THROW(context.validate(), ConfigError);
  context.context_mm = 25;
  EXPECT_THROW(context.validate(), ConfigError);
}

TEST(Canvas, DetectorInputStacksTheContextSlicesOfTheSameCase) {
  auto slice = [](const std::string& name, int k, float value) {
    CanvasSlice s;
    s.case_name = name;
    s.slice = k;
    s.volume_slices = 6;
    s.slice_mm = 2;
    s.image.assign(4, value);
    return s;
  };
  // Case "a" without its slice 3 (an empty slice left out), then case "b".
  const std::vector<CanvasSlice> slices = {slice("a", 0, 0.0f), slice("a", 1, 0.1f), slice("a", 2, 0.2f),
                                           slice("a", 4, 0.4f), slice("a", 5, 0.5f), slice("b", 0, 0.9f)};
  EXPECT_EQ(find_case_slice(slices, 1, 4), 3);
  EXPECT_EQ(find_case_slice(slices, 4, 0), 0);
  EXPECT_EQ(find_case_slice(slices, 1, 3), -1);
  EXPECT_EQ(find_case_slice(slices, 4, 6), -1);  // beyond case "a": not case "b"'s slice
  CanvasOptions context;
  context.size = 2;
  context.context_mm = 2;  // one slice each side
  auto planes = [](const std::vector<float>& x) { return std::vector<float>{x[0], x[4], x[8]}; };
  ASSERT_EQ(detector_input(slices, 1, context).size(), 12u);
  EXPECT_EQ(planes(detector_input(slices, 1, context)), (std::vector<float>{0.0f, 0.1f, 0.2f}));
  EXPECT_EQ(planes(detector_input(slices, 2, context)), (std::vector<float>{0.1f, 0.2f, 0.2f}));  // slice 3 absent: the centre
  EXPECT_EQ(planes(detector_input(slices, 4, context)), (std::vector<float>{0.4f, 0.5f, 0.5f}));  // the last slice repeats
  context.context_mm = 0;
  EXPECT_EQ(detector_input(slices, 1, context), slices[1].image);
}
