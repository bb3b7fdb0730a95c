// The detector's training slices: how large a share of its body each slice
// cuts, and which slices the sampler draws.
#include <gtest/gtest.h>

#include <set>

#include "spinescan/core/rng.h"
#include "spinescan/detect/slice_data.h"

namespace {

using spinescan::Rng;
using spinescan::detect::CanvasSlice;
using spinescan::detect::make_draw_pool;

// A slice of `case_name` on a 10 x 10 label map where body `label` covers
// `area_px` pixels (none when 0), with one truth box for it (ignored when
// `ignore`).
CanvasSlice slice_with_body(const std::string &case_name, int slice, int label, int area_px, bool ignore = false) {
  CanvasSlice s;
  s.case_name = case_name;
  s.slice = slice;
  s.labels.assign(100, 0);
  for (int i = 0; i < area_px; ++i) s.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(label);
  if (area_px > 0) {
    spinescan::eval::GroundTruth g;
    g.box = {0, 0, 10, static_cast<float>(area_px) / 10.0f};
    g.ignore = ignore;
    s.truth.push_back(g);
    s.truth_labels.push_back(label);
  }
  return s;
}

TEST(SliceData, SectionShareIsTheBodysSectionOverItsLargestInTheSameCase) {
  std::vector<CanvasSlice> slices = {slice_with_body("a", 0, 1, 20), slice_with_body("a", 1, 1, 80),
                                     slice_with_body("a", 2, 1, 40),
                                     // The same label in another case is another body.
                                     slice_with_body("b", 0, 1, 10), slice_with_body("b", 1, 1, 10)};
  // Two bodies on one slice: each against its own largest.
  slices[1].labels[99] = 2;
  spinescan::eval::GroundTruth g;
  slices[1].truth.push_back(g);
  slices[1].truth_labels.push_back(2);
  const auto shares = spinescan::detect::section_shares(slices);
  ASSERT_EQ(shares.size(), slices.size());
  EXPECT_DOUBLE_EQ(shares[0][0], 0.25);
  EXPECT_DOUBLE_EQ(shares[1][0], 1.0);
  EXPECT_DOUBLE_EQ(shares[1][1], 1.0);
  EXPECT_DOUBLE_EQ(shares[2][0], 0.5);
  EXPECT_DOUBLE_EQ(shares[3][0], 1.0);
  EXPECT_DOUBLE_EQ(shares[4][0], 1.0);
}

// Case "a": a side slice (share 0.25), its middle and a slice whose only body
// is an ignored sliver; case "b": two central slices; one empty slice.
std::vector<CanvasSlice> sampler_slices() {
  return {slice_with_body("a", 0, 1, 20), slice_with_body("a", 1, 1, 80), slice_with_body("a", 2, 1, 5, true),
          slice_with_body("b", 0, 1, 60), slice_with_body("b", 1, 1, 60), slice_with_body("c", 0, 1, 0)};
}

TEST(SliceData, SideFractionDrawsSlicesThroughTheSideOfABody) {
  const auto slices = sampler_slices();
  const size_t side = 0, empty = 5, sliver_only = 2;
  const int draws = 4000;
  auto count = [&](double empty_fraction, double side_fraction, size_t index) {
    Rng rng(7);
    const auto drawn = spinescan::detect::draw_training_slices(make_draw_pool(slices), draws, empty_fraction, side_fraction, rng);
    EXPECT_EQ(drawn.size(), static_cast<size_t>(draws));
    return static_cast<double>(std::count(drawn.begin(), drawn.end(), index)) / draws;
  };
  // Without a preference: case "a" half the draws, its side slice half of
  // those.
  EXPECT_NEAR(count(0, 0, side), 0.25, 0.03);
  // Every draw through a body is a side slice.
  EXPECT_DOUBLE_EQ(count(0, 1, side), 1.0);
  EXPECT_NEAR(count(0, 0.5, side), 0.5 + 0.5 * 0.25, 0.03);
  // A slice whose only body is an ignored sliver counts as one without a body,
  // never as a side slice.
  EXPECT_EQ(count(0, 1, sliver_only), 0.0);
  EXPECT_NEAR(count(0.2, 0.5, sliver_only), 0.1, 0.03);
  EXPECT_NEAR(count(0.2, 0.5, empty), 0.1, 0.03);
  EXPECT_NEAR(count(0.2, 1, side), 0.8, 0.03);
}

TEST(SliceData, WithoutSideSlicesOrASidePreferenceTheDrawIsTheSame) {
  // With side_fraction 0 no extra random number is drawn, so a seed gives the
  // draws it gave before the option; with no side slice at all the preference
  // has nothing to draw and changes nothing.
  std::vector<CanvasSlice> central = {slice_with_body("a", 0, 1, 60), slice_with_body("a", 1, 1, 60),
                                      slice_with_body("b", 0, 1, 60), slice_with_body("c", 0, 1, 0)};
  Rng r1(3), r2(3);
  const auto plain = spinescan::detect::draw_training_slices(make_draw_pool(central), 500, 0.1, 0, r1);
  EXPECT_EQ(spinescan::detect::draw_training_slices(make_draw_pool(central), 500, 0.1, 0.7, r2), plain);
  const auto with_side = sampler_slices();
  Rng r4(3), r5(3);
  EXPECT_NE(spinescan::detect::draw_training_slices(make_draw_pool(with_side), 500, 0.1, 0.7, r4),
            spinescan::detect::draw_training_slices(make_draw_pool(with_side), 500, 0.1, 0, r5));
}

}  // namespace
