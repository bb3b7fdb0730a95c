#include "spinescan/detect/slice_schedule.h"

#include <algorithm>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

CentreOutSchedule::CentreOutSchedule(int num_slices, int batch_slices, int stop_after_empty_slices)
    : num_slices_(num_slices), batch_slices_(batch_slices), stop_after_empty_(stop_after_empty_slices),
      seen_(static_cast<size_t>(std::max(0, num_slices)), -1) {
  SPINESCAN_CHECK_AS(num_slices >= 0 && batch_slices >= 2 && stop_after_empty_slices >= 1, ConfigError,
                     "slice schedule needs slices >= 0, batches of >= 2 and a stop run >= 1");
}

int CentreOutSchedule::empty_run(int outer, int step) const {
  int run = 0;
  for (int k = outer; k >= 0 && k < num_slices_ && seen_[static_cast<size_t>(k)] == 0; k += step) ++run;
  return run;
}

std::vector<int> CentreOutSchedule::next_batch() {
  for (int k = 0; k < num_slices_; ++k)
    SPINESCAN_CHECK_AS(!started_ || seen_[static_cast<size_t>(k)] != -1 || k <= left_ || k >= right_,
                       ConfigError, "slice schedule: slice ", k, " of the last batch was not recorded");
  std::vector<int> batch;
  if (!started_) {
    started_ = true;
    const int first = std::max(0, (num_slices_ - batch_slices_) / 2);
    for (int k = first; k < std::min(num_slices_, first + batch_slices_); ++k) batch.push_back(k);
    left_ = first - 1;
    right_ = first + static_cast<int>(batch.size());
    return batch;
  }
  const bool any_box = std::find(seen_.begin(), seen_.end(), 1) != seen_.end();
  if (!any_box) look_everywhere_ = true;  // nothing to walk outwards from
  if (!look_everywhere_) {
    // The ends of the looked-at block; the block is contiguous, so its outer slices are these.
    if (empty_run(left_ + 1, +1) >= stop_after_empty_) left_open_ = false;
    if (empty_run(right_ - 1, -1) >= stop_after_empty_) right_open_ = false;
  }
  const bool left = left_open_ && left_ >= 0, right = right_open_ && right_ < num_slices_;
  // Half a batch each side while both are open, all of it to the one that is.
  int left_share = left ? (right ? batch_slices_ / 2 : batch_slices_) : 0;
  int right_share = right ? batch_slices_ - left_share : 0;
  // A side with fewer slices left gives its share to the other.
  const int left_available = left ? left_ + 1 : 0, right_available = right ? num_slices_ - right_ : 0;
  if (left_share > left_available) right_share += left_share - left_available, left_share = left_available;
  if (right_share > right_available) left_share = std::min(left_available, left_share + right_share - right_available),
                                     right_share = right_available;
  for (int i = 0; i < left_share; ++i) batch.push_back(left_--);
  for (int i = 0; i < right_share; ++i) batch.push_back(right_++);
  return batch;
}

void CentreOutSchedule::record(int slice, bool has_box) {
  SPINESCAN_CHECK_AS(slice >= 0 && slice < num_slices_, ConfigError, "slice schedule: slice ", slice, " out of range");
  seen_[static_cast<size_t>(slice)] = has_box ? 1 : 0;
}

std::vector<int> CentreOutSchedule::skipped() const {
  std::vector<int> out;
  for (int k = 0; k < num_slices_; ++k)
    if (seen_[static_cast<size_t>(k)] == -1) out.push_back(k);
  return out;
}

}  // namespace spinescan::detect
