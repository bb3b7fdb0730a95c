#include "spinescan/pipeline/fitness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "spinescan/io/normalize.h"

namespace spinescan::pipeline {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char line[400];
  std::snprintf(line, sizeof line, pattern, a, b, c);
  return line;
}

double overlap_fraction(const ops::Box& a, const ops::Box& b) {
  const double smaller_px = std::min(a.height(), b.height());
  return smaller_px > 0 ? (std::min(a.y2, b.y2) - std::max(a.y1, b.y1)) / smaller_px : 0;
}

// Head-to-foot overlap of two neighbouring bodies: the median over the slices both are seen
// on (boxes of one slice share its geometry; a column that drifts sideways or tilts makes the
// largest boxes of two bodies, often on different slices, overlap where the bodies do not);
// their largest boxes when they share no slice.
double overlap_fraction(const aggregate::Track& upper, const aggregate::Track& lower) {
  std::vector<double> shared;
  for (const auto& a : upper.boxes)
    for (const auto& b : lower.boxes)
      if (a.slice == b.slice) shared.push_back(overlap_fraction(a.box, b.box));
  return shared.empty() ? overlap_fraction(upper.largest().box, lower.largest().box) : median(shared);
}

}  // namespace

nlohmann::json ColumnGeometry::to_json() const {
  auto r = [](double x) { return std::round(x * 100) / 100; };
  return {{"num_bodies", num_bodies},
          {"median_body_height_mm", r(median_height_mm)},
          {"median_body_depth_mm", r(median_depth_mm)},
          {"max_step_body_heights", r(max_step_body_heights)},
          {"max_step_angle_deg", r(max_step_angle_deg)},
          {"max_overlap_fraction", r(max_overlap_fraction)},
          {"overlap_fractions", [&] {
             nlohmann::json out = nlohmann::json::array();
             for (double x : overlap_fractions) out.push_back(r(x));
             return out;
           }()},
          {"num_off_column", num_off_column}};
}

ColumnGeometry column_geometry(const std::vector<aggregate::Track>& tracks, const std::array<double, 3>& spacing_mm) {
  ColumnGeometry g;
  g.num_bodies = static_cast<int>(tracks.size());
  if (tracks.empty()) return g;
  std::vector<double> heights, depths;
  for (const auto& t : tracks) {
    const auto& b = t.largest();
    heights.push_back(b.box.height() * spacing_mm[1]);
    depths.push_back(b.box.width() * spacing_mm[0]);
  }
  g.median_height_mm = median(heights);
  g.median_depth_mm = median(depths);
  if (tracks.size() < 2 || g.median_height_mm <= 0) return g;
  // A track far in front of or behind the others is a stray structure beside the spine (on a
  // phantom, a posterior blob next to S1), not a step of the column: the steps leave it out.
  std::vector<double> centres_mm;
  for (const auto& t : tracks) centres_mm.push_back(t.centre_x() * spacing_mm[0]);
  const double column_mm = median(centres_mm);
  std::vector<size_t> column;  // indices into tracks
  for (size_t i = 0; i < tracks.size(); ++i)
    if (std::abs(centres_mm[i] - column_mm) <= ColumnGeometry::kOffColumnBodyDepths * g.median_depth_mm) column.push_back(i);
  g.num_off_column = g.num_bodies - static_cast<int>(column.size());
  g.max_overlap_fraction = -std::numeric_limits<double>::infinity();  // (a gap is a negative overlap)
  if (column.size() < 2) g.max_overlap_fraction = 0;
  for (size_t i = 0; i + 1 < column.size(); ++i) {
    const aggregate::Track& upper = tracks[column[i]];
    const aggregate::Track& lower = tracks[column[i + 1]];
    g.overlap_fractions.push_back(overlap_fraction(upper, lower));
    if (g.overlap_fractions.back() > g.max_overlap_fraction) {
      g.max_overlap_fraction = g.overlap_fractions.back();
      g.most_overlapping_upper = static_cast<int>(column[i]);
    }
    const double down_mm = (lower.centre_y() - upper.centre_y()) * spacing_mm[1];
    const double across_mm = (lower.centre_x() - upper.centre_x()) * spacing_mm[0];
    const double step = std::hypot(down_mm, across_mm) / g.median_height_mm;
    g.max_step_body_heights = std::max(g.max_step_body_heights, step);
    g.max_step_angle_deg = std::max(g.max_step_angle_deg, std::atan2(std::abs(across_mm), std::abs(down_mm)) * 180 / M_PI);
  }
  return g;
}

int pair_in_doubt(const ColumnGeometry& g, const FitnessOptions& o) {
  return g.max_overlap_fraction > o.doubt_overlap_fraction ? g.most_overlapping_upper : -1;
}

double signal_fraction(const Volume<float>& v) {
  // A strided sample of about a million voxels: the share is a property of the whole image,
  // and reading every voxel of a large study would cost more than the answer is worth.
  const size_t n = v.voxels.size();
  const size_t stride = std::max<size_t>(1, n / 1000000);
  std::vector<float> sample;
  sample.reserve(n / stride + 1);
  for (size_t i = 0; i < n; i += stride) sample.push_back(v.voxels[i]);
  if (sample.empty()) return 0;
  const double lo = *std::min_element(sample.begin(), sample.end());
  const double high = percentile(sample, 99.5);
  if (!(high > lo)) return 0;
  const double cut = lo + 0.05 * (high - lo);
  size_t above = 0;
  for (float x : sample) above += x > cut;
  return static_cast<double>(above) / static_cast<double>(sample.size());
}

std::string refusal_before_detection(const StudyInfo& info, const Volume<float>& canonical, const FitnessOptions& o) {
  const auto& sp = canonical.spacing_mm;  // column A->P, row S->I, slice L->R
  const double thickest_mm = *std::max_element(info.spacing_mm.begin(), info.spacing_mm.end());
  if ((info.acquisition_plane == "coronal" || info.acquisition_plane == "axial") && thickest_mm > o.max_non_sagittal_slice_mm)
    return "acquired in the " + info.acquisition_plane + " plane" +
           format(" with %.1f mm slices; spinescan reads sagittal acquisitions (or 3D ones finer than %.1f mm)", thickest_mm,
                  o.max_non_sagittal_slice_mm);
  if (sp[2] > o.max_sagittal_slice_mm)
    return format("sagittal slices %.1f mm apart; spinescan reads slices up to %.1f mm", sp[2], o.max_sagittal_slice_mm);
  if (std::max(sp[0], sp[1]) > o.max_pixel_mm)
    return format("pixels of %.1f x %.1f mm; spinescan reads pixels up to %.1f mm", sp[1], sp[0], o.max_pixel_mm);
  const double si_mm = static_cast<double>(canonical.size[1]) * sp[1];
  const double ap_mm = static_cast<double>(canonical.size[0]) * sp[0];
  if (si_mm < o.min_field_si_mm || si_mm > o.max_field_si_mm)
    return format("field of view %.0f mm from head to foot; a lumbar spine study spans %.0f to %.0f mm", si_mm, o.min_field_si_mm,
                  o.max_field_si_mm);
  if (ap_mm < o.min_field_ap_mm || ap_mm > o.max_field_ap_mm)
    return format("field of view %.0f mm from front to back; a lumbar spine study spans %.0f to %.0f mm", ap_mm, o.min_field_ap_mm,
                  o.max_field_ap_mm);
  const double signal = signal_fraction(canonical);
  if (signal < o.min_signal_fraction)
    return format("only %.1f %% of the voxels hold signal (at least %.0f %% expected): mostly one value, not an MRI of the trunk",
                  100 * signal, 100 * o.min_signal_fraction);
  return "";
}

std::string refusal_after_detection(const ColumnGeometry& g, const FitnessOptions& o) {
  if (g.num_bodies < o.min_bodies)
    return format("%.0f vertebral bodies found (at least %.0f expected): not a sagittal lumbar spine study, or a field of view "
                  "too small", g.num_bodies, o.min_bodies);
  if (g.median_height_mm < o.min_body_height_mm || g.median_height_mm > o.max_body_height_mm)
    return format("the bodies found are %.0f mm tall (median; vertebral bodies: %.0f-%.0f mm): not a spinal column",
                  g.median_height_mm, o.min_body_height_mm, o.max_body_height_mm);
  if (g.median_depth_mm < o.min_body_depth_mm || g.median_depth_mm > o.max_body_depth_mm)
    return format("the bodies found are %.0f mm deep (median; vertebral bodies: %.0f-%.0f mm): not a spinal column",
                  g.median_depth_mm, o.min_body_depth_mm, o.max_body_depth_mm);
  if (g.max_step_body_heights > o.max_step_body_heights)
    return format("neighbouring bodies found up to %.1f body heights apart (a column: at most %.1f, a missed body or two "
                  "included): not a spinal column", g.max_step_body_heights, o.max_step_body_heights);
  if (g.max_step_angle_deg > o.max_step_angle_deg)
    return format("neighbouring bodies found side by side (a step %.0f degrees from the vertical; a column: at most %.0f)",
                  g.max_step_angle_deg, o.max_step_angle_deg);
  if (3 * g.num_off_column > g.num_bodies)
    return format("%.0f of the %.0f bodies found lie far in front of or behind the others: not a spinal column", g.num_off_column,
                  g.num_bodies);
  return "";
}

}  // namespace spinescan::pipeline
