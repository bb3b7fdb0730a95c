#pragma once
// Running the detector on a whole study: every canonical sagittal slice, boxes mapped back
// to canonical pixel coordinates. No torch types here (used by the CLI and the pipeline).
#include <filesystem>
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/ops/box.h"

namespace spinescan::detect {

struct SliceDetection {
  int slice = 0;
  ops::Box box;  // canonical pixels
  double score = 0;
  bool linked = false;  // under the operating score, kept because a neighbouring slice confirms it
};

struct StudyDetections {
  StudyInfo info;
  Volume<float> normalized;  // canonical, per-slice normalised (for pictures)
  double operating_score = 0;
  double linked_score = 0;
  // At or above the operating score, or at or above the linked score where a neighbouring
  // slice confirms them (slice_linking.h).
  std::vector<SliceDetection> detections;
  // Canonical slices the detector did not look at: beyond the column's end on each side
  // (slice_schedule.h). Empty when every slice was looked at.
  std::vector<int> slices_not_examined;
};

StudyDetections detect_study(const std::filesystem::path& study, const std::filesystem::path& model,
                             const ReadOptions& read_options = {}, const std::string& device = "cpu");

struct LoadedDetector;  // detector_io.h (torch)
// The same with a detector already loaded (many studies, one model). stop_after_empty_slices:
// the slice schedule's stop (slice_schedule.h), one more than the gap the 3D linking may bridge,
// so a box further out could not join any vertebra already found; analyze passes its bundle's
// link settings, the default is the default linking's.
StudyDetections detect_loaded_study(LoadedDetector& detector, const LoadedStudy& study, const std::string& device = "cpu",
                                    int stop_after_empty_slices = aggregate::LinkOptions{}.max_gap_slices + 1);

// Writes a PNG of one canonical slice with the detections drawn (orange) at 2x zoom.
void write_detection_overlay(const std::filesystem::path& png, const StudyDetections& d, int slice);

}  // namespace spinescan::detect
