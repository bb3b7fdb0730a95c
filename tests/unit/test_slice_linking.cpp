// detect/slice_linking.h: boxes under the operating score are kept only through a chain of
// overlapping boxes on neighbouring slices that starts at a confident one.
#include <gtest/gtest.h>

#include "spinescan/detect/slice_linking.h"

using spinescan::detect::link_across_slices;
using spinescan::detect::SliceLinking;
using spinescan::ops::Box;
using spinescan::eval::Prediction;

namespace {

Prediction box_at(double x1, double score) { return {Box{x1, 100, x1 + 30, 130}, score}; }

}  // namespace

TEST(SliceLinking, UncertainBoxesAreKeptOnlyWhereAChainFromAConfidentOneReachesThem) {
  std::vector<std::vector<Prediction>> slices(8);
  slices[0] = {box_at(52, 0.21)};               // end of the chain (two slices from the confident box)
  slices[1] = {box_at(51, 0.25)};               // linked to slice 2
  slices[2] = {box_at(50, 0.9)};                // confident
  slices[3] = {box_at(50, 0.22), box_at(200, 0.25)};  // linked; the second is elsewhere
  slices[4] = {box_at(50, 0.15)};               // under the linked score: the chain stops here
  slices[5] = {box_at(50, 0.25)};               // beyond the break
  slices[7] = {box_at(300, 0.28)};              // isolated
  SliceLinking linking;
  linking.operating_score = 0.3;
  linking.linked_score = 0.2;
  const auto kept = link_across_slices(slices, linking);
  ASSERT_EQ(kept.size(), slices.size());
  EXPECT_TRUE(kept[0][0]);
  EXPECT_TRUE(kept[1][0]);
  EXPECT_TRUE(kept[2][0]);
  EXPECT_TRUE(kept[3][0]);
  EXPECT_FALSE(kept[3][1]) << "no overlap with a kept box on a neighbouring slice";
  EXPECT_FALSE(kept[4][0]) << "under the linked score";
  EXPECT_FALSE(kept[5][0]) << "its neighbour was not kept";
  EXPECT_TRUE(kept[6].empty());
  EXPECT_FALSE(kept[7][0]);

  linking.linked_score = linking.operating_score;  // linking off: the operating score alone
  const auto plain = link_across_slices(slices, linking);
  for (size_t k = 0; k < slices.size(); ++k)
    for (size_t i = 0; i < slices[k].size(); ++i) EXPECT_EQ(plain[k][i], slices[k][i].score >= 0.3) << k << " " << i;
}

TEST(SliceLinking, ASecondBoxOnABodyAlreadyBoxedIsNotLinked) {
  std::vector<std::vector<Prediction>> slices(2);
  slices[0] = {box_at(50, 0.9)};
  // Slice 1: the body's box, confident, and a shifted second box on the same body that still
  // overlaps slice 0's box by IoU 0.5 and slice 1's own box by more than 0.3.
  slices[1] = {box_at(50, 0.8), {Box{55, 100, 85, 130}, 0.25}};
  SliceLinking linking;
  linking.linked_score = 0.2;
  const auto kept = link_across_slices(slices, linking);
  EXPECT_TRUE(kept[1][0]);
  EXPECT_FALSE(kept[1][1]);
  // The same box on a slice where the body has no confident box is the one to keep.
  slices[1] = {{Box{55, 100, 85, 130}, 0.25}};
  EXPECT_TRUE(link_across_slices(slices, linking)[1][0]);
}
