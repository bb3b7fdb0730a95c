// The order in which analyze's detector looks at slices, and where it stops (detect/slice_schedule.h).
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "spinescan/core/errors.h"
#include "spinescan/detect/slice_schedule.h"

using spinescan::detect::CentreOutSchedule;

namespace {

// Runs the schedule against a study whose slices [first_box, last_box] hold a box; returns
// the batches it asked for.
std::vector<std::vector<int>> run(CentreOutSchedule& s, int first_box, int last_box) {
  std::vector<std::vector<int>> batches;
  for (auto b = s.next_batch(); !b.empty(); b = s.next_batch()) {
    for (const int k : b) s.record(k, k >= first_box && k <= last_box);
    batches.push_back(b);
  }
  return batches;
}

}  // namespace

TEST(CentreOutSchedule, StopsTwoEmptySlicesBeyondTheColumnOnEachSide) {
  // 40 slices at 1 mm, bodies on 12-27: the middle 8 first, then 4 a side, until each side has
  // seen two slices in a row without a box.
  CentreOutSchedule s(40, 8, 2);
  const auto batches = run(s, 12, 27);
  EXPECT_EQ(batches.front(), (std::vector<int>{16, 17, 18, 19, 20, 21, 22, 23}));
  std::set<int> seen;
  for (const auto& b : batches) {
    EXPECT_LE(b.size(), 8u);
    for (const int k : b) EXPECT_TRUE(seen.insert(k).second) << "slice " << k << " twice";
  }
  for (int k = 12; k <= 27; ++k) EXPECT_TRUE(seen.count(k)) << "a slice with a box was skipped: " << k;
  EXPECT_TRUE(seen.count(10) && seen.count(11) && seen.count(28) && seen.count(29));  // the two empty ones
  const auto skipped = s.skipped();
  EXPECT_FALSE(skipped.empty());
  for (const int k : skipped) EXPECT_TRUE(k < 10 || k > 29) << k;
  EXPECT_EQ(skipped.size() + seen.size(), 40u);
}

TEST(CentreOutSchedule, LooksEverywhereWhenTheMiddleHoldsNothingOrTheColumnFillsTheStudy) {
  CentreOutSchedule off_centre(40, 8, 2);  // a column on slices 0-5 only: the middle batch is empty
  run(off_centre, 0, 5);
  EXPECT_TRUE(off_centre.skipped().empty());
  CentreOutSchedule full(23, 8, 2);  // SPIDER: bodies on every slice
  run(full, 0, 22);
  EXPECT_TRUE(full.skipped().empty());
  CentreOutSchedule few(5, 8, 2);  // fewer slices than a batch: one batch
  EXPECT_EQ(run(few, 1, 3).size(), 1u);
  EXPECT_TRUE(few.skipped().empty());
  CentreOutSchedule none(0, 8, 2);
  EXPECT_TRUE(none.next_batch().empty());
}

TEST(CentreOutSchedule, OneSideEndsWhileTheOtherGoesOn) {
  // Bodies on 14-35 of 40: the left side ends at 12-13, the right runs to the last slice.
  CentreOutSchedule s(40, 8, 2);
  run(s, 14, 35);
  const auto skipped = s.skipped();
  ASSERT_FALSE(skipped.empty());
  EXPECT_LE(skipped.back(), 11);
  // A batch must be answered before the next is asked for.
  CentreOutSchedule t(40, 8, 2);
  t.next_batch();
  EXPECT_THROW(t.next_batch(), spinescan::ConfigError);
}
