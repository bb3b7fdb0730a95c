// RgbImage::draw_text: labels burned into DICOM secondary captures must be legible: ink in
// the asked colour where the glyph is, a black outline around it, nothing else touched.
#include <gtest/gtest.h>

#include "spinescan/io/png.h"

namespace {

using spinescan::RgbImage;

struct Pixel {
  int r, g, b;
  bool operator==(const Pixel& o) const { return r == o.r && g == o.g && b == o.b; }
};
Pixel at(const RgbImage& im, int x, int y) {
  const size_t i = (static_cast<size_t>(y) * im.width + x) * 3;
  return {im.rgb[i], im.rgb[i + 1], im.rgb[i + 2]};
}
RgbImage grey(int w, int h) {
  RgbImage im(w, h);
  std::fill(im.rgb.begin(), im.rgb.end(), 128);
  return im;
}

TEST(BitmapFont, DrawsTheGlyphInkWithAnOutlineAndLeavesTheRestAlone) {
  RgbImage im = grey(40, 20);
  im.draw_text(2, 2, "L", 255, 0, 0, /*scale=*/1);
  // 'L': the left column of the 5x7 cell and its bottom row are ink.
  for (int y = 0; y < 7; ++y) EXPECT_EQ(at(im, 2, 2 + y), (Pixel{255, 0, 0})) << y;
  for (int x = 0; x < 5; ++x) EXPECT_EQ(at(im, 2 + x, 8), (Pixel{255, 0, 0})) << x;
  EXPECT_EQ(at(im, 1, 5), (Pixel{0, 0, 0}));      // outline left of the stem
  EXPECT_EQ(at(im, 3, 4), (Pixel{0, 0, 0}));      // outline right of the stem
  EXPECT_EQ(at(im, 5, 4), (Pixel{128, 128, 128}));  // inside the cell, away from ink
  EXPECT_EQ(at(im, 30, 10), (Pixel{128, 128, 128}));
}

TEST(BitmapFont, ScalesAdvancesAndReadsLowerCaseAsUpper) {
  EXPECT_EQ(RgbImage::text_width("L4", 2), (2 * 6 - 1) * 2);
  EXPECT_EQ(RgbImage::text_width("", 2), 0);
  RgbImage upper = grey(60, 30), lower = grey(60, 30);
  upper.draw_text(3, 3, "FLAG", 0, 255, 0, 2);
  lower.draw_text(3, 3, "flag", 0, 255, 0, 2);
  EXPECT_EQ(upper.rgb, lower.rgb);
  // Scale 2: the stem of 'F' is two pixels wide and 14 tall.
  for (int y = 0; y < 14; ++y) {
    EXPECT_EQ(at(upper, 3, 3 + y), (Pixel{0, 255, 0}));
    EXPECT_EQ(at(upper, 4, 3 + y), (Pixel{0, 255, 0}));
  }
  // The second glyph starts one advance (6 font pixels) later.
  EXPECT_EQ(at(upper, 3 + 12, 3), (Pixel{0, 255, 0}));  // 'L' stem
}

TEST(BitmapFont, UnknownCharactersShowAsQuestionMarksAndTextIsClipped) {
  RgbImage a = grey(20, 12), b = grey(20, 12);
  a.draw_text(1, 1, "\x01", 255, 255, 255, 1);
  b.draw_text(1, 1, "?", 255, 255, 255, 1);
  EXPECT_EQ(a.rgb, b.rgb);
  RgbImage small = grey(4, 4);
  small.draw_text(-3, -3, "WWW", 255, 255, 255, 3);  // must not write outside the image
  EXPECT_EQ(small.rgb.size(), 4u * 4 * 3);
}

}  // namespace
