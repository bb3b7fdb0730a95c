#pragma once
// Does a study fit what the models were made for: a sagittal MRI of the lumbar spine? A
// study that does not is refused ("not analysed", no vertebra reported, exit 1) rather than
// given findings. Two gates:
//   before detection: acquisition plane and slice thickness, pixel size, field of view, and
//                     whether the pixels hold an image at all (not mostly one value);
//   after detection:  whether the bodies found make a spinal column (enough of them, of
//                     vertebral size, stacked one above the other at vertebral steps).
// The bounds are anatomy and acquisition practice with wide margins, not fitted numbers;
// docs/analyze.md says which cases they were checked on.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/io/volume.h"

namespace spinescan::pipeline {

struct FitnessOptions {
  // A coronal or axial acquisition reformatted to sagittal slices is as coarse across the
  // body as its slices are thick; finer than this it is a 3D acquisition, read as any other.
  double max_non_sagittal_slice_mm = 1.5;
  double max_sagittal_slice_mm = 8.0;  // clinical sagittal T2: 3-5 mm; beyond, a body spans 5 slices or fewer
  double max_pixel_mm = 3.0;           // a 25 mm lumbar body is under 9 pixels tall beyond this
  // Field of view of a sagittal slice: room for at least three lumbar bodies (each ~35 mm with
  // its disc) up to a whole-spine composite. Front to back it must hold one vertebra whole: an
  // adult lumbar body (25-45 mm deep), the canal behind it (~15 mm) and the arch out to the tip
  // of the spinous process (~30-40 mm), 80-100 mm in all; clinical fields are 200-400 mm.
  // (Narrower, it is a slab cut through something else, such as the coronal images of a thin
  // sagittal slab stored as sagittal slices: docs/analyze.md.)
  double min_field_si_mm = 90, max_field_si_mm = 1200;
  double min_field_ap_mm = 80, max_field_ap_mm = 600;
  // Pixels: the share of voxels brighter than 5 % of the 99.5th percentile. An MRI of the
  // trunk is mostly tissue; a volume that is almost all one value holds no image to read.
  double min_signal_fraction = 0.05;

  int min_bodies = 3;
  // Vertebral bodies, T10 to S1 in adults, on the slice through their middle: 15-40 mm tall
  // and 25-60 mm deep (front to back); the median body of a study must lie well inside that.
  double min_body_height_mm = 10, max_body_height_mm = 55;
  double min_body_depth_mm = 15, max_body_depth_mm = 75;
  // Neighbouring bodies: centre to centre, one body and one disc (about 1.2-1.6 body heights);
  // a missed body doubles it. More than this many median body heights apart is no column.
  double max_step_body_heights = 3.6;
  // Two bodies do not share space: neighbouring boxes of real columns overlap head to foot by at
  // most ~0.27 of the smaller one's height (median over the slices both are seen on; boxes of
  // abutting bodies touch; a body cut by the edge of the field is short, not overlapping). More
  // is one body found twice, or two bodies seen as one, or a stray box beside a body: the
  // names above the pair are put in doubt (levels/decision.h), the study is not refused (an
  // infected column blurs its endplates and its two bodies' boxes overlap; docs/analyze.md).
  double doubt_overlap_fraction = 0.35;
  // The column's course: lordosis turns each step by at most ~25 degrees from the vertical
  // in the lumbar spine (the lumbosacral step more); a step more horizontal than this is no column.
  double max_step_angle_deg = 60;
};

// What the gate measured of the bodies found (canonical mm), for the report and for
// choosing the bounds.
struct ColumnGeometry {
  // A body whose centre lies more than this many median body depths in front of or behind
  // the median centre is off the column (lordosis moves lumbar centres by about one depth).
  static constexpr double kOffColumnBodyDepths = 1.5;
  int num_bodies = 0;
  int num_off_column = 0;  // left out of the steps below; more than a third: no column
  double median_height_mm = 0, median_depth_mm = 0;
  double max_step_body_heights = 0;  // centre-to-centre steps of the bodies on the column, in median body heights
  double max_overlap_fraction = 0;   // head-to-foot overlap of neighbouring boxes / the smaller height (median over shared slices)
  std::vector<double> overlap_fractions;  // the same for each neighbouring pair on the column, superior to inferior
  int most_overlapping_upper = -1;        // the upper body of the pair at max_overlap_fraction: its index in the tracks given
  double max_step_angle_deg = 0;                                // from the superior-inferior axis
  nlohmann::json to_json() const;
};

// Tracks ordered superior -> inferior (aggregate::link_tracks); `canonical_spacing_mm` of the
// canonical volume (column A->P, row S->I, slice L->R).
ColumnGeometry column_geometry(const std::vector<aggregate::Track>& tracks, const std::array<double, 3>& canonical_spacing_mm);

// The upper body (index in the tracks given to column_geometry) of the neighbouring pair whose
// overlap puts the count above it in doubt (over doubt_overlap_fraction); -1 when none does.
int pair_in_doubt(const ColumnGeometry& column, const FitnessOptions& options = {});

// Empty when the study may be read; otherwise one sentence saying why not.
std::string refusal_before_detection(const StudyInfo& info, const Volume<float>& canonical, const FitnessOptions& options = {});
std::string refusal_after_detection(const ColumnGeometry& column, const FitnessOptions& options = {});

// The share of voxels brighter than 5 % of the 99.5th percentile (above the minimum).
double signal_fraction(const Volume<float>& volume);

}  // namespace spinescan::pipeline
