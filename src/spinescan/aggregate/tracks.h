#pragma once
// From per-slice boxes to 3D vertebrae: a body seen on neighbouring sagittal slices gives
// overlapping boxes, so boxes are linked slice by slice (lateral to lateral) by overlap,
// a track may skip a slice the detector missed, tracks too short to be a body (a few stray
// boxes) are dropped, and the rest are ordered superior to inferior.
#include <string>
#include <vector>

#include "spinescan/ops/box.h"

namespace spinescan::aggregate {

struct TrackedBox {
  int slice = 0;
  ops::Box box;                            // canonical pixels
  double score = 0;                        // detector score
  double probability = -1;                 // classifier p(pathological) on this slice; -1 = not classified
  double intensity_probability = -1;       // the intensity model's p on this slice (classify/baseline.h); -1 = none
  std::vector<double> intensity_features;  // classify::intensity_features of this box, where already computed
  std::vector<float> embedding;            // the classifier's pooled features of this box (empty: not classified)
};

struct Track {
  std::vector<TrackedBox> boxes;  // one per slice, by slice
  int first_slice() const { return boxes.front().slice; }
  int last_slice() const { return boxes.back().slice; }
  // Score-weighted mean of the box centres, canonical pixels.
  double centre_x() const;
  double centre_y() const;
  // The box with the largest area (the slice through the body's middle, usually).
  const TrackedBox& largest() const;
  // Its box on that slice; nullptr where the track does not reach it.
  const TrackedBox* on_slice(int slice) const;
};

// The boxes through the body rather than its edge: area at least half the largest box's
// (lateral slices show pedicles and partial volume). Features and the level net read these.
std::vector<TrackedBox> central_boxes(const Track& track);

struct LinkOptions {
  double min_iou = 0.3;   // boxes on neighbouring slices with at least this overlap are one body
  int max_gap_slices = 1;        // slices a track may skip (a missed detection)
  int min_slices = 2;     // shorter tracks are dropped (stray boxes)
  double merge_distance_body_heights = 0.35;  // tracks whose centres differ by less than this share of a body height, on disjoint slices, merge
  // A vertebral body is seen on many sagittal slices around the midline; bowel, fat or a
  // lateral structure the detector took for a body is seen on a few lateral slices. Tracks
  // shorter than this share of the median track, or with no box within `midline_margin_slices`
  // slices of the midline, are dropped (each would shift every level name by one).
  double min_length_fraction = 0.4;
  int midline_margin_slices = 2;
  // Tracks whose boxes overlap by at least this IoU on the slices they share are one body
  // seen twice; the one with less detector evidence is dropped.
  double duplicate_iou = 0.25;
};

// Greedy one-to-one linking by IoU, slice after slice; returns tracks ordered superior ->
// inferior (by centre row).
std::vector<Track> link_tracks(std::vector<TrackedBox> boxes, const LinkOptions& options = {});

// The column filter link_tracks applies last (see LinkOptions); needs 3 tracks to judge.
std::vector<Track> keep_spinal_column(std::vector<Track> tracks, const LinkOptions& options = {});

}  // namespace spinescan::aggregate
