#pragma once
// Which canonical slices the detector looks at, and in which batches: from the middle of the
// study outwards, stopping on each side once the bodies have ended.
//
// A 1 mm sagittal study holds far lateral slices with no vertebral body in them (a quarter of
// the Chu et al. volumes' slices). Bodies are convex and the column is one connected piece, so
// walking outwards from slices that hold bodies, a run of slices with no box means the column
// has ended on that side; the 3D linking cannot join a box beyond such a run to a vertebra
// anyway (aggregate/tracks.h, max_gap_slices). Where the middle batch holds no box at all (a
// column far off-centre, or no column), every slice is looked at.
#include <vector>

namespace spinescan::detect {

class CentreOutSchedule {
 public:
  // stop_after_empty_slices: consecutive slices without a box, on one side, that end that side.
  CentreOutSchedule(int num_slices, int batch_slices, int stop_after_empty_slices);
  // The next slices to detect on, at most batch_slices of them; empty when done. Each batch
  // must be answered with record() for all of its slices before the next is asked for.
  std::vector<int> next_batch();
  void record(int slice, bool has_box);
  // Slices never looked at (not asked for by next_batch), in increasing order.
  std::vector<int> skipped() const;

 private:
  // Consecutive slices without a box at the outer end of the looked-at block, one side.
  int empty_run(int outer, int step) const;

  int num_slices_, batch_slices_, stop_after_empty_;
  std::vector<int> seen_;  // -1 not looked at, 0 no box, 1 a box
  int left_ = -1, right_ = 0;  // next slice outwards on each side
  bool started_ = false, look_everywhere_ = false, left_open_ = true, right_open_ = true;
};

}  // namespace spinescan::detect
