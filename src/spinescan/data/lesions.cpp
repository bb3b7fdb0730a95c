// Lesion models painted into real vertebral bodies (see lesions.h and docs/lesions.md).
#include "spinescan/data/lesions.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/core/version.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/dataset.h"
#include "spinescan/io/normalize.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/png.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"

namespace spinescan {
namespace fs = std::filesystem;

const std::vector<std::string>& lesion_findings() {
  static const std::vector<std::string> kFindings = {"spondylodiscitis", "metastasis", "fracture",
                                                     "diffuse_infiltration"};
  return kFindings;
}

void LesionOptions::validate() const {
  SPINESCAN_CHECK_AS(fraction > 0 && fraction <= 1, ConfigError, "--fraction must be in (0, 1], got ", fraction);
  SPINESCAN_CHECK_AS(family == "a" || family == "b" || family == "all", ConfigError,
                     "--family must be a, b or all, got '", family, "'");
  SPINESCAN_CHECK_AS(!findings.empty(), ConfigError, "no lesion finding to draw from");
  for (const auto& f : findings)
    SPINESCAN_CHECK_AS(std::find(lesion_findings().begin(), lesion_findings().end(), f) != lesion_findings().end(),
                       ConfigError, "unknown lesion finding '", f, "' (spondylodiscitis, metastasis, fracture, diffuse_infiltration)");
  SPINESCAN_CHECK_AS(subtle_fraction >= 0 && subtle_fraction <= 1, ConfigError, "--subtle-fraction must be in [0, 1], got ",
                     subtle_fraction);
  SPINESCAN_CHECK_AS(source_labels == "unknown" || source_labels == "keep" || source_labels == "healthy", ConfigError,
                     "--source-labels must be unknown, keep or healthy, got '", source_labels, "'");
}

namespace {

// ---------------------------------------------------------------------------------------
// Geometry of one body in the canonical layout: at(col, row, slice), col A->P, row S->I.

struct Box3 {
  int c0 = 0, c1 = -1, r0 = 0, r1 = -1, s0 = 0, s1 = -1;  // inclusive
  int width() const { return c1 - c0 + 1; }
  int height() const { return r1 - r0 + 1; }
  int slices() const { return s1 - s0 + 1; }
  int64_t count() const { return static_cast<int64_t>(width()) * height() * slices(); }
  int64_t at(int c, int r, int s) const {
    return (static_cast<int64_t>(s - s0) * height() + (r - r0)) * width() + (c - c0);
  }
  bool contains(int c, int r, int s) const { return c >= c0 && c <= c1 && r >= r0 && r <= r1 && s >= s0 && s <= s1; }
};

struct Body {
  int label = 0;
  int64_t voxels = 0;
  Box3 box;
  // Per (col, slice) of the box: the body's most superior and most inferior row, -1 if none.
  std::vector<int> top, bottom;
  // Per slice of the box: the body's median intensity and the bright and dark references
  // (98th and 2nd percentile of the body's neighbourhood: CSF and discs, cortex and ligaments).
  std::vector<float> median, bright, dark;
  double height_mm = 0, depth_mm = 0;

  int64_t column(int c, int s) const { return static_cast<int64_t>(s - box.s0) * box.width() + (c - box.c0); }
  // Per-slice references for any slice (nearest slice of the body outside its range).
  int slice_index(int s) const { return std::clamp(s, box.s0, box.s1) - box.s0; }
};

Body measure_body(const Volume<float>& image, const Volume<uint16_t>& labels, int label) {
  Body b;
  b.label = label;
  Box3& box = b.box;
  box.c0 = box.r0 = box.s0 = std::numeric_limits<int>::max();
  box.c1 = box.r1 = box.s1 = -1;
  const auto& n = labels.size;
  for (int s = 0; s < n[2]; ++s)
    for (int r = 0; r < n[1]; ++r)
      for (int c = 0; c < n[0]; ++c)
        if (labels.at(c, r, s) == label) {
          ++b.voxels;
          box.c0 = std::min(box.c0, c), box.c1 = std::max(box.c1, c);
          box.r0 = std::min(box.r0, r), box.r1 = std::max(box.r1, r);
          box.s0 = std::min(box.s0, s), box.s1 = std::max(box.s1, s);
        }
  SPINESCAN_CHECK(b.voxels > 0, "lesion painter: no voxel has label ", label);
  const auto& sp = labels.spacing_mm;
  b.height_mm = box.height() * sp[1];
  b.depth_mm = box.width() * sp[0];
  b.top.assign(static_cast<size_t>(box.width()) * box.slices(), -1);
  b.bottom = b.top;
  for (int s = box.s0; s <= box.s1; ++s)
    for (int r = box.r0; r <= box.r1; ++r)
      for (int c = box.c0; c <= box.c1; ++c)
        if (labels.at(c, r, s) == label) {
          const int64_t k = b.column(c, s);
          if (b.top[k] < 0) b.top[k] = r;
          b.bottom[k] = r;
        }
  // Per-slice references. The neighbourhood reaches one body height up and down and half a
  // depth front and back: it holds discs, CSF and cortex on every slice.
  const int margin_rows = box.height(), margin_cols = box.width() / 2;
  b.median.assign(box.slices(), std::numeric_limits<float>::quiet_NaN());
  b.bright = b.dark = b.median;
  for (int s = box.s0; s <= box.s1; ++s) {
    std::vector<float> inside, around;
    for (int r = std::max(0, box.r0 - margin_rows); r <= std::min<int>(n[1] - 1, box.r1 + margin_rows); ++r)
      for (int c = std::max(0, box.c0 - margin_cols); c <= std::min<int>(n[0] - 1, box.c1 + margin_cols); ++c) {
        const float v = image.at(c, r, s);
        around.push_back(v);
        if (labels.at(c, r, s) == label) inside.push_back(v);
      }
    if (inside.size() < 20) continue;
    const size_t k = s - box.s0;
    b.median[k] = static_cast<float>(percentile(inside, 50));
    b.bright[k] = static_cast<float>(percentile(around, 98));
    b.dark[k] = static_cast<float>(percentile(around, 2));
  }
  // Slices with too few body voxels take the nearest measured slice's references.
  int nearest = -1;
  for (int k = 0; k < box.slices(); ++k)
    if (!std::isnan(b.median[k]) && (nearest < 0 || std::abs(k - box.slices() / 2) < std::abs(nearest - box.slices() / 2)))
      nearest = k;
  SPINESCAN_CHECK(nearest >= 0, "lesion painter: body ", label, " has no slice with 20 voxels");
  for (int k = 0; k < box.slices(); ++k)
    if (std::isnan(b.median[k])) {
      int best = nearest;
      for (int j = 0; j < box.slices(); ++j)
        if (!std::isnan(b.median[j]) && std::abs(j - k) < std::abs(best - k)) best = j;
      b.median[k] = b.median[best], b.bright[k] = b.bright[best], b.dark[k] = b.dark[best];
    }
  return b;
}

// The body's box grown by margin_mm on every side, clipped to the volume.
Box3 region_around(const Body& b, const Volume<uint16_t>& labels, double margin_mm) {
  const auto& sp = labels.spacing_mm;
  const auto grow = [&](int axis) { return static_cast<int>(std::ceil(margin_mm / sp[axis])); };
  Box3 r;
  r.c0 = std::max(0, b.box.c0 - grow(0)), r.c1 = std::min<int>(labels.size[0] - 1, b.box.c1 + grow(0));
  r.r0 = std::max(0, b.box.r0 - grow(1)), r.r1 = std::min<int>(labels.size[1] - 1, b.box.r1 + grow(1));
  r.s0 = std::max(0, b.box.s0 - grow(2)), r.s1 = std::min<int>(labels.size[2] - 1, b.box.s1 + grow(2));
  return r;
}

// Separable Gaussian blur of a field over a region (sigma in voxels per axis; 0 = none).
void blur(std::vector<float>& field, const Box3& reg, const std::array<double, 3>& sigma_vox) {
  const std::array<int, 3> dims = {reg.width(), reg.height(), reg.slices()};
  const std::array<int64_t, 3> stride = {1, dims[0], static_cast<int64_t>(dims[0]) * dims[1]};
  for (int axis = 0; axis < 3; ++axis) {
    if (sigma_vox[axis] < 0.2 || dims[axis] < 2) continue;
    const int radius = static_cast<int>(std::ceil(3 * sigma_vox[axis]));
    std::vector<double> kernel(2 * radius + 1);
    for (int i = -radius; i <= radius; ++i) kernel[i + radius] = std::exp(-0.5 * i * i / (sigma_vox[axis] * sigma_vox[axis]));
    std::vector<float> line(dims[axis]);
    const int64_t total = reg.count();
    for (int64_t start = 0; start < total; ++start) {
      // Visit each line once: its first element has index 0 along `axis`.
      if ((start / stride[axis]) % dims[axis] != 0) continue;
      for (int i = 0; i < dims[axis]; ++i) line[i] = field[start + i * stride[axis]];
      for (int i = 0; i < dims[axis]; ++i) {
        double sum = 0, wsum = 0;
        for (int j = std::max(0, i - radius); j <= std::min(dims[axis] - 1, i + radius); ++j) {
          sum += kernel[j - i + radius] * line[j];
          wsum += kernel[j - i + radius];
        }
        field[start + i * stride[axis]] = static_cast<float>(sum / wsum);
      }
    }
  }
}

// The body as a soft mask over a region: 1 inside, falling off over about sigma_mm.
std::vector<float> soft_body(const Volume<uint16_t>& labels, int label, const Box3& reg, double sigma_mm) {
  std::vector<float> mask(reg.count(), 0.f);
  for (int s = reg.s0; s <= reg.s1; ++s)
    for (int r = reg.r0; r <= reg.r1; ++r)
      for (int c = reg.c0; c <= reg.c1; ++c)
        if (labels.at(c, r, s) == label) mask[reg.at(c, r, s)] = 1.f;
  const auto& sp = labels.spacing_mm;
  blur(mask, reg, {sigma_mm / sp[0], sigma_mm / sp[1], 0.5 * sigma_mm / sp[2]});
  return mask;
}

// Value noise: normal values on a lattice of cell_mm, smoothstep-interpolated; roughly unit
// scale, correlated over about one cell. Coordinates in mm from the region's corner.
class LatticeNoise {
 public:
  LatticeNoise(Rng& rng, const std::array<double, 3>& extent_mm, double cell_mm) : cell_mm_(cell_mm) {
    for (int a = 0; a < 3; ++a) dims_[a] = static_cast<int>(std::ceil(extent_mm[a] / cell_mm)) + 2;
    values_.resize(static_cast<size_t>(dims_[0]) * dims_[1] * dims_[2]);
    for (auto& v : values_) v = static_cast<float>(rng.normal());
  }
  double operator()(double x_mm, double y_mm, double z_mm) const {
    const double p[3] = {x_mm / cell_mm_, y_mm / cell_mm_, z_mm / cell_mm_};
    int i[3];
    double f[3];
    for (int a = 0; a < 3; ++a) {
      const double q = std::clamp(p[a], 0.0, dims_[a] - 1.001);
      i[a] = static_cast<int>(q);
      const double t = q - i[a];
      f[a] = t * t * (3 - 2 * t);
    }
    double sum = 0;
    for (int dz = 0; dz < 2; ++dz)
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          const double w = (dx ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dz ? f[2] : 1 - f[2]);
          sum += w * values_[(static_cast<size_t>(i[2] + dz) * dims_[1] + (i[1] + dy)) * dims_[0] + (i[0] + dx)];
        }
    return sum;
  }

 private:
  double cell_mm_;
  std::array<int, 3> dims_{};
  std::vector<float> values_;
};

std::array<double, 3> extent_mm(const Box3& reg, const std::array<double, 3>& sp) {
  return {reg.width() * sp[0], reg.height() * sp[1], reg.slices() * sp[2]};
}

// Texture of a lesion's signal: family a a smooth field, family b nodular (spots).
struct Texture {
  std::unique_ptr<LatticeNoise> noise;
  double strength = 0;
  char family = 'a';
  double operator()(double x, double y, double z) const {
    if (!noise || strength <= 0) return 1;
    const double n = (*noise)(x, y, z);
    const double t = family == 'a' ? 1 + strength * n : 1 + strength * (2 * std::max(0.0, n) - 0.6);
    return std::max(0.0, t);
  }
};

Texture make_texture(Rng& rng, char family, const Box3& reg, const std::array<double, 3>& sp, double strength) {
  Texture t;
  t.family = family;
  t.strength = strength;
  const double cell = family == 'a' ? rng.uniform(3, 8) : rng.uniform(1.5, 3);
  t.noise = std::make_unique<LatticeNoise>(rng, extent_mm(reg, sp), cell);
  return t;
}

// Shape of a focal lesion, evaluated in mm: weight 1 inside, 0 outside, soft edge.
struct FocalShape {
  char family = 'a';
  double cx = 0, cy = 0, cz = 0;  // centre, mm from the region's corner
  double radius_mm = 5, edge_mm = 1;
  double angle = 0;                // rotation in the sagittal plane
  std::array<double, 3> axis_scale{1, 1, 1};
  struct Lobe { double dx, dy, dz, r; };
  std::vector<Lobe> lobes;  // family b
  std::unique_ptr<LatticeNoise> wobble;

  double operator()(double x, double y, double z) const {
    double dx = x - cx, dy = y - cy, dz = z - cz;
    const double rx = std::cos(angle) * dx + std::sin(angle) * dy;
    const double ry = -std::sin(angle) * dx + std::cos(angle) * dy;
    if (family == 'a') {
      const double q = std::sqrt(std::pow(rx / axis_scale[0], 2) + std::pow(ry / axis_scale[1], 2) +
                                 std::pow(dz / axis_scale[2], 2)) / radius_mm;
      return 1 / (1 + std::exp((q - 1) * radius_mm / edge_mm));
    }
    double q = 1e9;
    for (const auto& l : lobes)
      q = std::min(q, std::sqrt(std::pow(rx - l.dx, 2) + std::pow(ry - l.dy, 2) + std::pow(dz - l.dz, 2)) / l.r);
    if (wobble) q *= 1 + 0.25 * (*wobble)(x, y, z);
    const double e = edge_mm / radius_mm;
    if (q <= 1 - e) return 1;
    if (q >= 1 + e) return 0;
    return 0.5 * (1 + std::cos(M_PI * (q - (1 - e)) / (2 * e)));
  }
};

FocalShape make_focal_shape(Rng& rng, char family, double cx, double cy, double cz, double diameter_mm,
                            const Box3& reg, const std::array<double, 3>& sp) {
  FocalShape f;
  f.family = family;
  f.cx = cx, f.cy = cy, f.cz = cz;
  f.radius_mm = diameter_mm / 2;
  f.angle = rng.uniform(0, M_PI);
  if (family == 'a') {
    f.edge_mm = rng.uniform(0.4, 1.5);
    for (auto& a : f.axis_scale) a = rng.uniform(0.75, 1.25);
  } else {
    f.edge_mm = std::min(f.radius_mm * 0.8, rng.uniform(0.5, 3.0));
    const int lobes = rng.integer(2, 4);
    for (int i = 0; i < lobes; ++i) {
      const double r = f.radius_mm * rng.uniform(0.55, 0.85);
      const double off = f.radius_mm - r;
      f.lobes.push_back({rng.uniform(-off, off), rng.uniform(-off, off), rng.uniform(-off, off), r});
    }
    f.wobble = std::make_unique<LatticeNoise>(rng, extent_mm(reg, sp), std::max(1.0, f.radius_mm / 2));
  }
  return f;
}

// Average of a shape over the slice thickness (partial volume): three samples per slice.
template <class Shape>
double over_slice(const Shape& shape, double x, double y, double z, double slice_mm) {
  return (shape(x, y, z - slice_mm / 3) + shape(x, y, z) + shape(x, y, z + slice_mm / 3)) / 3;
}

// Moves each voxel of the region toward the bright (contrast > 0) or dark (< 0) reference by
// weight * |contrast| of the way from the body's median, times the texture. What the image
// had around the median (texture, noise, per-slice scaling) stays.
void apply_shift(Volume<float>& image, const Body& ref, const Box3& reg, const std::vector<float>& weight,
                 double contrast, const Texture& texture, float max_value) {
  const auto& sp = image.spacing_mm;
  for (int s = reg.s0; s <= reg.s1; ++s) {
    const int k = ref.slice_index(s);
    const double delta = contrast > 0 ? contrast * (ref.bright[k] - ref.median[k]) : contrast * (ref.median[k] - ref.dark[k]);
    for (int r = reg.r0; r <= reg.r1; ++r)
      for (int c = reg.c0; c <= reg.c1; ++c) {
        const float w = weight[reg.at(c, r, s)];
        if (w <= 1e-4f) continue;
        const double t = texture((c - reg.c0) * sp[0], (r - reg.r0) * sp[1], (s - reg.s0) * sp[2]);
        float& v = image.at(c, r, s);
        v = std::clamp(static_cast<float>(v + w * delta * t), 0.f, max_value);
      }
  }
}

// Draws a contrast magnitude: family a uniform, family b skewed toward the low end.
double draw_contrast(Rng& rng, char family, bool subtle, double lo, double hi) {
  if (subtle) return rng.uniform(0.10, 0.28);
  const double u = rng.uniform();
  return lo + (hi - lo) * (family == 'a' ? u : std::pow(u, 1.6));
}

// Distance in mm from a body voxel to its superior (from_top) or inferior endplate.
double endplate_distance_mm(const Body& b, int c, int r, int s, bool from_top, double row_mm) {
  const int64_t k = b.column(c, s);
  if (b.top[k] < 0) return 1e9;
  return (from_top ? r - b.top[k] : b.bottom[k] - r) * row_mm;
}

// Profile of an endplate band: family a decays exponentially, family b a ramp with a
// ragged front.
double band_profile(char family, double dist_mm, double depth_mm, double ragged) {
  if (family == 'a') return std::exp(-dist_mm / depth_mm);
  const double d = depth_mm * std::max(0.3, 1 + 0.45 * ragged);
  return std::clamp(1 - dist_mm / d, 0.0, 1.0);
}

std::string fmt(double v, int digits = 2) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(digits);
  o << v;
  return o.str();
}

float max_intensity(const Volume<float>& image) {
  return image.voxels.empty() ? 1.f : *std::max_element(image.voxels.begin(), image.voxels.end());
}

// A band of changed marrow under one endplate of a body (oedema, Modic-like).
void paint_endplate_band(Volume<float>& image, const Volume<uint16_t>& labels, const Body& b, bool at_top, char family,
                         double depth_mm, double contrast, Rng& rng, float max_value) {
  const auto& sp = image.spacing_mm;
  const Box3 reg = region_around(b, labels, 2.0);
  const auto soft = soft_body(labels, b.label, reg, 0.6);
  LatticeNoise ragged(rng, extent_mm(reg, sp), rng.uniform(3, 7));
  std::vector<float> w(reg.count(), 0.f);
  for (int s = reg.s0; s <= reg.s1; ++s)
    for (int r = reg.r0; r <= reg.r1; ++r)
      for (int c = reg.c0; c <= reg.c1; ++c) {
        const float m = soft[reg.at(c, r, s)];
        if (m <= 1e-3f || c < b.box.c0 || c > b.box.c1 || s < b.box.s0 || s > b.box.s1) continue;
        const int64_t k = b.column(c, s);
        if (b.top[k] < 0) continue;
        const int rr = std::clamp(r, b.top[k], b.bottom[k]);
        const double dist = endplate_distance_mm(b, c, rr, s, at_top, sp[1]);
        w[reg.at(c, r, s)] = static_cast<float>(m * band_profile(family, dist, depth_mm,
                                                                  ragged((c - reg.c0) * sp[0], (r - reg.r0) * sp[1], (s - reg.s0) * sp[2])));
      }
  blur(w, reg, {0, 0, 0.35 / sp[2] * 1.0});
  const Texture texture = make_texture(rng, family, reg, sp, rng.uniform(0.15, 0.5));
  apply_shift(image, b, reg, w, contrast, texture, max_value);
}

PaintedLesion paint_metastasis(Volume<float>& image, const Volume<uint16_t>& labels, const Body& b, char family,
                               bool subtle, Rng& rng) {
  const auto& sp = image.spacing_mm;
  const float max_value = max_intensity(image);
  const Box3 reg = region_around(b, labels, 6.0);
  const auto soft = soft_body(labels, b.label, reg, 0.6);
  // Posterior wall per (row, slice): the last body column; a breaching lesion may pass it.
  std::vector<int> wall(static_cast<size_t>(reg.height()) * reg.slices(), -1);
  for (int s = reg.s0; s <= reg.s1; ++s)
    for (int r = reg.r0; r <= reg.r1; ++r)
      for (int c = reg.c0; c <= reg.c1; ++c)
        if (labels.at(c, r, s) == b.label) wall[(s - reg.s0) * reg.height() + (r - reg.r0)] = c;
  std::vector<std::array<int, 3>> body_voxels;
  for (int s = b.box.s0; s <= b.box.s1; ++s)
    for (int r = b.box.r0; r <= b.box.r1; ++r)
      for (int c = b.box.c0; c <= b.box.c1; ++c)
        if (labels.at(c, r, s) == b.label) body_voxels.push_back({c, r, s});

  PaintedLesion out;
  out.finding = "metastasis";
  const int count = subtle ? 1 : rng.integer(1, 3);
  const bool bright = rng.chance(family == 'a' ? 0.7 : 0.6);
  const double magnitude = draw_contrast(rng, family, subtle, 0.3, 0.9);
  const bool breach = !subtle && rng.chance(0.25);
  const double max_diameter = 0.8 * std::min(b.height_mm, b.depth_mm);
  std::vector<float> w(reg.count(), 0.f);
  double largest = 0;
  for (int i = 0; i < count; ++i) {
    const double diameter = std::min(max_diameter, subtle ? rng.uniform(4, 7) : rng.uniform(5, 15));
    largest = std::max(largest, diameter);
    auto v = body_voxels[rng.below(body_voxels.size())];
    if (breach && i == 0) {
      const int wc = wall[(v[2] - reg.s0) * reg.height() + (v[1] - reg.r0)];
      v[0] = std::max(b.box.c0, wc - static_cast<int>(0.25 * diameter / sp[0]));
    }
    const FocalShape shape = make_focal_shape(rng, family, (v[0] - reg.c0) * sp[0], (v[1] - reg.r0) * sp[1],
                                              (v[2] - reg.s0) * sp[2], diameter, reg, sp);
    for (int s = reg.s0; s <= reg.s1; ++s)
      for (int r = reg.r0; r <= reg.r1; ++r)
        for (int c = reg.c0; c <= reg.c1; ++c) {
          const double x = (c - reg.c0) * sp[0], y = (r - reg.r0) * sp[1], z = (s - reg.s0) * sp[2];
          if (std::abs(x - shape.cx) > diameter || std::abs(y - shape.cy) > diameter || std::abs(z - shape.cz) > diameter + sp[2])
            continue;
          const double f = over_slice(shape, x, y, z, sp[2]);
          const int wc = wall[(s - reg.s0) * reg.height() + (r - reg.r0)];
          const bool beyond_wall = breach && i == 0 && wc >= 0 && c > wc;
          const double inside = beyond_wall ? 1.0 : soft[reg.at(c, r, s)];
          float& target = w[reg.at(c, r, s)];
          target = std::max(target, static_cast<float>(f * inside));
        }
  }
  const Texture texture = make_texture(rng, family, reg, sp, rng.uniform(0.1, 0.4));
  out.contrast = bright ? magnitude : -magnitude;
  apply_shift(image, b, reg, w, out.contrast, texture, max_value);
  out.size_mm = largest;
  out.detail = std::to_string(count) + (bright ? " bright" : " dark") + " focus(es), largest " + fmt(largest, 1) + " mm" +
               (breach ? ", through the posterior wall" : "");
  return out;
}

PaintedLesion paint_diffuse(Volume<float>& image, const Volume<uint16_t>& labels, const Body& b, char family, bool subtle,
                            Rng& rng) {
  const auto& sp = image.spacing_mm;
  const Box3 reg = region_around(b, labels, 2.0);
  const auto w = soft_body(labels, b.label, reg, 0.6);
  PaintedLesion out;
  out.finding = "diffuse_infiltration";
  const bool bright = rng.chance(0.55);
  const double magnitude = subtle ? rng.uniform(0.10, 0.22) : draw_contrast(rng, family, false, 0.22, 0.65);
  out.contrast = bright ? magnitude : -magnitude;
  const double heterogeneity = family == 'a' ? rng.uniform(0.3, 0.9) : rng.uniform(0.5, 1.2);
  const Texture texture = make_texture(rng, family, reg, sp, heterogeneity);
  apply_shift(image, b, reg, w, out.contrast, texture, max_intensity(image));
  out.size_mm = b.height_mm;
  out.detail = std::string(bright ? "bright" : "dark") + " marrow, heterogeneity " + fmt(heterogeneity);
  return out;
}

// Fracture: the superior endplate moves down by a loss that is largest anteriorly (wedge)
// or centrally (biconcave, family b); the disc above stretches into the gap. Image and
// labels are resampled along each column, so the label follows the body.
PaintedLesion paint_fracture(Volume<float>& image, Volume<uint16_t>& labels, const Body& b, char family, bool subtle,
                             Rng& rng) {
  const auto& sp = image.spacing_mm;
  const float max_value = max_intensity(image);
  PaintedLesion out;
  out.finding = "fracture";
  const double loss = subtle ? rng.uniform(0.08, 0.15) : rng.uniform(0.15, 0.45);
  const bool biconcave = family == 'b' && rng.chance(0.5);
  const double posterior_share = biconcave ? rng.uniform(0.1, 0.4) : rng.uniform(0.0, 0.6);
  const double taper_mm = 3.0;
  const int taper_cols = static_cast<int>(std::ceil(taper_mm / sp[0]));
  const int max_disc_rows = static_cast<int>(15.0 / sp[1]);
  for (int s = b.box.s0; s <= b.box.s1; ++s) {
    int front = -1, back = -1;
    for (int c = b.box.c0; c <= b.box.c1; ++c)
      if (b.top[b.column(c, s)] >= 0) {
        if (front < 0) front = c;
        back = c;
      }
    if (front < 0 || back <= front) continue;
    for (int c = std::max(0, front - taper_cols); c <= std::min<int>(image.size[0] - 1, back + taper_cols); ++c) {
      const int cc = std::clamp(c, front, back);
      int ref = cc;  // nearest column of this slice that holds the body
      for (int d = 0; b.top[b.column(ref, s)] < 0 && d <= back - front; ++d) {
        if (cc - d >= front && b.top[b.column(cc - d, s)] >= 0) ref = cc - d;
        else if (cc + d <= back && b.top[b.column(cc + d, s)] >= 0) ref = cc + d;
      }
      const int top = b.top[b.column(ref, s)], bottom = b.bottom[b.column(ref, s)];
      if (bottom - top < 4) continue;
      const double t = static_cast<double>(cc - front) / (back - front);  // 0 anterior, 1 posterior
      double share = biconcave ? posterior_share + (1 - posterior_share) * std::sin(M_PI * t)
                               : 1 - (1 - posterior_share) * t;
      const int outside = c < front ? front - c : (c > back ? c - back : 0);
      share *= 1 - static_cast<double>(outside) / (taper_cols + 1);
      const double loss_rows = loss * share * (bottom - top);
      if (loss_rows < 0.05) continue;
      // The disc above: up to the next labelled body, at most 15 mm.
      int disc_rows = 0;
      while (disc_rows < max_disc_rows && top - disc_rows - 1 >= 0) {
        const uint16_t l = labels.at(c, top - disc_rows - 1, s);
        if (l != 0 && l != b.label) break;
        ++disc_rows;
      }
      disc_rows = std::max(1, disc_rows - 1);
      const int first = top - disc_rows;
      std::vector<float> col_img(bottom - first + 1);
      std::vector<uint16_t> col_lab(bottom - first + 1);
      for (int r = first; r <= bottom; ++r) col_img[r - first] = image.at(c, r, s), col_lab[r - first] = labels.at(c, r, s);
      const double new_top = top + loss_rows;
      for (int r = first; r <= bottom; ++r) {
        double src;
        if (r >= new_top) src = bottom - (bottom - r) * static_cast<double>(bottom - top) / (bottom - new_top);
        else src = first + (r - first) * static_cast<double>(disc_rows) / (disc_rows + loss_rows);
        src = std::clamp(src - first, 0.0, static_cast<double>(bottom - first));
        const int i0 = static_cast<int>(src);
        const int i1 = std::min(i0 + 1, bottom - first);
        const double f = src - i0;
        image.at(c, r, s) = static_cast<float>((1 - f) * col_img[i0] + f * col_img[i1]);
        labels.at(c, r, s) = col_lab[f < 0.5 ? i0 : i1];
      }
    }
  }
  const Body after = measure_body(image, labels, b.label);
  out.size_mm = loss * b.height_mm;
  out.contrast = 0;
  out.detail = std::string(biconcave ? "biconcave" : "wedge") + ", height loss " + fmt(100 * loss, 0) + " %";
  const bool oedema = rng.chance(subtle ? 0.4 : 0.65);
  if (oedema) {
    const double depth = rng.uniform(3, 10);
    out.contrast = draw_contrast(rng, family, subtle, 0.25, 0.8);
    paint_endplate_band(image, labels, after, true, family, depth, out.contrast, rng, max_value);
    out.detail += ", oedema band " + fmt(depth, 1) + " mm";
  }
  if (!subtle && rng.chance(0.35)) {
    // A dark fracture line parallel to the superior endplate.
    const double depth = rng.uniform(2, 6), half_thickness = rng.uniform(0.4, 1.0);
    const Box3 reg = region_around(after, labels, 1.0);
    const auto soft = soft_body(labels, b.label, reg, 0.6);
    std::vector<float> w(reg.count(), 0.f);
    for (int s = after.box.s0; s <= after.box.s1; ++s)
      for (int r = after.box.r0; r <= after.box.r1; ++r)
        for (int c = after.box.c0; c <= after.box.c1; ++c) {
          const double dist = endplate_distance_mm(after, c, r, s, true, sp[1]);
          if (dist > 100) continue;
          const double x = (dist - depth) / half_thickness;
          w[reg.at(c, r, s)] = static_cast<float>(soft[reg.at(c, r, s)] * std::exp(-0.5 * x * x));
        }
    const Texture flat;
    apply_shift(image, after, reg, w, -rng.uniform(0.3, 0.7), flat, max_value);
    out.detail += ", fracture line at " + fmt(depth, 1) + " mm";
  }
  return out;
}

PaintedLesion paint_spondylodiscitis(Volume<float>& image, const Volume<uint16_t>& labels, const Body& upper,
                                     const Body& lower, char family, bool subtle, Rng& rng) {
  const auto& sp = image.spacing_mm;
  const float max_value = max_intensity(image);
  PaintedLesion out;
  out.finding = "spondylodiscitis";
  out.labels = {upper.label, lower.label};
  const double band = subtle ? rng.uniform(2, 5) : rng.uniform(4, std::max(5.0, 0.9 * std::min(upper.height_mm, lower.height_mm)));
  out.contrast = draw_contrast(rng, family, subtle, 0.3, 0.9);
  const double asymmetry = rng.uniform(0.5, 1.0);
  const bool upper_stronger = rng.chance(0.5);
  // Oedema along the facing endplates: the inferior one of the upper body, the superior one of the lower.
  paint_endplate_band(image, labels, upper, false, family, band * (upper_stronger ? 1 : asymmetry),
                      out.contrast * (upper_stronger ? 1 : asymmetry), rng, max_value);
  paint_endplate_band(image, labels, lower, true, family, band * (upper_stronger ? asymmetry : 1),
                      out.contrast * (upper_stronger ? asymmetry : 1), rng, max_value);

  // The disc space between them: brighter (fluid), and the endplates eroded and blurred.
  const double disc_gain = subtle ? rng.uniform(0.05, 0.3) : rng.uniform(0.2, 0.85);
  const double erosion_mm = subtle ? rng.uniform(0, 1) : rng.uniform(0.5, 4);
  const double blur_mm = subtle ? rng.uniform(0, 0.7) : rng.uniform(0.6, 2.0);
  Box3 reg;
  reg.c0 = std::min(upper.box.c0, lower.box.c0), reg.c1 = std::max(upper.box.c1, lower.box.c1);
  reg.r0 = upper.box.r0, reg.r1 = lower.box.r1;
  reg.s0 = std::max(upper.box.s0, lower.box.s0), reg.s1 = std::min(upper.box.s1, lower.box.s1);
  SPINESCAN_CHECK(reg.s0 <= reg.s1, "lesion painter: bodies ", upper.label, " and ", lower.label, " share no slice");
  LatticeNoise ragged(rng, extent_mm(reg, sp), rng.uniform(2, 5));
  std::vector<float> w_disc(reg.count(), 0.f), w_erosion(reg.count(), 0.f);
  for (int s = reg.s0; s <= reg.s1; ++s)
    for (int c = reg.c0; c <= reg.c1; ++c) {
      if (c < upper.box.c0 || c > upper.box.c1 || c < lower.box.c0 || c > lower.box.c1) continue;
      const int ub = upper.bottom[upper.column(c, s)], lt = lower.top[lower.column(c, s)];
      if (ub < 0 || lt < 0 || lt <= ub) continue;
      for (int r = ub + 1; r < lt; ++r) w_disc[reg.at(c, r, s)] = 1.f;
      const double x = (c - reg.c0) * sp[0], z = (s - reg.s0) * sp[2];
      const double depth_up = erosion_mm * std::max(0.0, 0.6 + 0.6 * ragged(x, ub * sp[1] - reg.r0 * sp[1], z));
      const double depth_low = erosion_mm * std::max(0.0, 0.6 + 0.6 * ragged(x + 7, lt * sp[1] - reg.r0 * sp[1], z));
      for (int r = std::max(reg.r0, ub - static_cast<int>(depth_up / sp[1])); r <= ub; ++r) w_erosion[reg.at(c, r, s)] = 1.f;
      for (int r = lt; r <= std::min(reg.r1, lt + static_cast<int>(depth_low / sp[1])); ++r) w_erosion[reg.at(c, r, s)] = 1.f;
    }
  blur(w_disc, reg, {0.6 / sp[0], 0.6 / sp[1], 0.3 / sp[2]});
  blur(w_erosion, reg, {0.5 / sp[0], 0.5 / sp[1], 0.3 / sp[2]});
  const Texture flat;
  // The disc is drawn toward the bright reference from its own value, not shifted from the
  // marrow median: discs differ in brightness and a degenerate one is dark.
  for (int s = reg.s0; s <= reg.s1; ++s) {
    const int k = upper.slice_index(s);
    for (int r = reg.r0; r <= reg.r1; ++r)
      for (int c = reg.c0; c <= reg.c1; ++c) {
        const float w = w_disc[reg.at(c, r, s)];
        if (w <= 1e-4f) continue;
        float& v = image.at(c, r, s);
        v = std::clamp(static_cast<float>(v + w * disc_gain * (upper.bright[k] - v)), 0.f, max_value);
      }
  }
  apply_shift(image, upper, reg, w_erosion, std::max(out.contrast, 0.6), flat, max_value);
  // Blurred endplates: rows within 3 blur widths of either facing endplate are smoothed along the column.
  if (blur_mm > 0.2) {
    const double sigma_rows = blur_mm / sp[1];
    const int radius = static_cast<int>(std::ceil(3 * sigma_rows));
    for (int s = reg.s0; s <= reg.s1; ++s)
      for (int c = reg.c0; c <= reg.c1; ++c) {
        if (c < upper.box.c0 || c > upper.box.c1 || c < lower.box.c0 || c > lower.box.c1) continue;
        const int ub = upper.bottom[upper.column(c, s)], lt = lower.top[lower.column(c, s)];
        if (ub < 0 || lt < 0) continue;
        const int r0 = std::max(0, ub - 2 * radius), r1 = std::min<int>(image.size[1] - 1, lt + 2 * radius);
        std::vector<float> col(r1 - r0 + 1);
        for (int r = r0; r <= r1; ++r) col[r - r0] = image.at(c, r, s);
        for (int r = r0; r <= r1; ++r) {
          double sum = 0, wsum = 0;
          for (int j = std::max(r0, r - radius); j <= std::min(r1, r + radius); ++j) {
            const double k = std::exp(-0.5 * (j - r) * (j - r) / (sigma_rows * sigma_rows));
            sum += k * col[j - r0];
            wsum += k;
          }
          const double near = std::min(std::abs(r - ub), std::abs(r - lt)) / (radius + 1.0);
          const double mix = std::clamp(1.2 - near, 0.0, 1.0);
          image.at(c, r, s) = static_cast<float>((1 - mix) * col[r - r0] + mix * sum / wsum);
        }
      }
  }
  out.size_mm = band;
  out.detail = "oedema band " + fmt(band, 1) + " mm, disc +" + fmt(disc_gain) + ", erosion " + fmt(erosion_mm, 1) +
               " mm, endplate blur " + fmt(blur_mm, 1) + " mm";
  return out;
}

bool has_label(const Volume<uint16_t>& labels, int label) {
  return std::find(labels.voxels.begin(), labels.voxels.end(), static_cast<uint16_t>(label)) != labels.voxels.end();
}

PaintedLesion paint_one(Volume<float>& image, Volume<uint16_t>& labels, const std::string& finding, int label, int partner,
                        char family, bool subtle, Rng& rng) {
  SPINESCAN_CHECK_AS(family == 'a' || family == 'b', ConfigError, "lesion family must be a or b, got '", family, "'");
  const Body body = measure_body(image, labels, label);
  PaintedLesion out;
  if (finding == "metastasis") out = paint_metastasis(image, labels, body, family, subtle, rng);
  else if (finding == "diffuse_infiltration") out = paint_diffuse(image, labels, body, family, subtle, rng);
  else if (finding == "fracture") out = paint_fracture(image, labels, body, family, subtle, rng);
  else if (finding == "spondylodiscitis") {
    SPINESCAN_CHECK(partner > 0, "lesion painter: spondylodiscitis needs a neighbour of body ", label);
    const Body other = measure_body(image, labels, partner);
    const bool other_below = other.box.r0 + other.box.r1 > body.box.r0 + body.box.r1;
    out = other_below ? paint_spondylodiscitis(image, labels, body, other, family, subtle, rng)
                      : paint_spondylodiscitis(image, labels, other, body, family, subtle, rng);
  } else {
    throw ConfigError("unknown lesion finding '" + finding + "'");
  }
  if (out.labels.empty()) out.labels = {label};
  out.family = family;
  out.subtle = subtle;
  return out;
}

uint64_t name_hash(const std::string& s) {  // FNV-1a: stable on every platform
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

std::string join_labels(const std::vector<int>& labels) {
  std::string s;
  for (int l : labels) s += (s.empty() ? "" : ";") + std::to_string(l);
  return s;
}

}  // namespace

PaintedLesion paint_lesion(Volume<float>& canonical_image, Volume<uint16_t>& canonical_labels, const std::string& finding,
                           int label, char family, bool subtle, Rng& rng) {
  int partner = 0;
  if (finding == "spondylodiscitis")
    partner = has_label(canonical_labels, label + 1) ? label + 1 : (has_label(canonical_labels, label - 1) ? label - 1 : 0);
  return paint_one(canonical_image, canonical_labels, finding, label, partner, family, subtle, rng);
}

std::vector<PaintedLesion> paint_case(Volume<float>& canonical_image, Volume<uint16_t>& canonical_labels,
                                      const std::vector<int>& eligible, uint64_t seed, const LesionOptions& options) {
  options.validate();
  Rng rng(seed);
  const std::set<int> can(eligible.begin(), eligible.end());
  std::set<int> taken;
  std::vector<PaintedLesion> lesions;
  for (int label : can) {
    if (taken.count(label) || !rng.chance(options.fraction)) continue;
    std::string finding = options.findings[rng.below(options.findings.size())];
    const char family = options.family == "all" ? (rng.chance(0.5) ? 'a' : 'b') : options.family[0];
    const bool subtle = rng.chance(options.subtle_fraction);
    int partner = 0;
    if (finding == "spondylodiscitis") {
      for (int candidate : {label + 1, label - 1})
        if (can.count(candidate) && !taken.count(candidate)) {
          partner = candidate;
          break;
        }
      if (partner == 0) {
        // No free neighbour: another finding, drawn among the rest.
        std::vector<std::string> rest;
        for (const auto& f : options.findings)
          if (f != "spondylodiscitis") rest.push_back(f);
        if (rest.empty()) continue;
        finding = rest[rng.below(rest.size())];
      }
    }
    lesions.push_back(paint_one(canonical_image, canonical_labels, finding, label, partner, family, subtle, rng));
    for (int l : lesions.back().labels) taken.insert(l);
  }
  return lesions;
}

namespace {

template <class T>
Volume<T> cast_rounded(const Volume<float>& in, double lo, double hi) {
  Volume<T> out = in.template like<T>();
  for (size_t i = 0; i < in.voxels.size(); ++i)
    out.voxels[i] = static_cast<T>(std::clamp(std::round(static_cast<double>(in.voxels[i])), lo, hi));
  return out;
}

// Writes `image` in the type it was read as (8/16-bit integers rounded, else float).
void write_like_source(const Volume<float>& image, const std::string& pixel_type, const fs::path& path) {
  if (pixel_type == "uint8") write_volume(cast_rounded<uint8_t>(image, 0, 255), path);
  else if (pixel_type == "int16") write_volume(cast_rounded<int16_t>(image, -32768, 32767), path);
  else if (pixel_type == "uint16") write_volume(cast_rounded<uint16_t>(image, 0, 65535), path);
  else write_volume(image, path);
}

}  // namespace

std::vector<int> lesion_visible_slices(const Volume<float>& before, const Volume<float>& after, const Volume<uint16_t>& labels_before,
                                const Volume<uint16_t>& labels_after, const std::vector<int>& body_labels) {
  auto in_bodies = [&](size_t i) {
    for (int l : body_labels)
      if (labels_before.voxels[i] == l || labels_after.voxels[i] == l) return true;
    return false;
  };
  float largest = 0;
  for (size_t i = 0; i < before.voxels.size(); ++i)
    if (in_bodies(i)) largest = std::max(largest, std::abs(after.voxels[i] - before.voxels[i]));
  std::vector<int> out;
  if (largest <= 0) return out;
  for (int64_t s = 0; s < before.size[2]; ++s) {
    int64_t body = 0, changed = 0;
    for (int64_t r = 0; r < before.size[1]; ++r)
      for (int64_t c = 0; c < before.size[0]; ++c) {
        const auto i = static_cast<size_t>(before.index(c, r, s));
        if (!in_bodies(i)) continue;
        ++body;
        changed += std::abs(after.voxels[i] - before.voxels[i]) >= 0.25f * largest;
      }
    if (body > 0 && changed >= std::max<int64_t>(4, static_cast<int64_t>(0.02 * static_cast<double>(body))))
      out.push_back(static_cast<int>(s));
  }
  return out;
}

LesionDatasetSummary write_lesion_dataset(const fs::path& data, const fs::path& out, uint64_t seed,
                                          const LesionOptions& options, bool overwrite,
                                          const std::function<void(size_t, size_t)>& on_case) {
  options.validate();
  const Dataset source = load_dataset(data);
  StagedDirectory staged(out, overwrite);
  LesionDatasetSummary summary;
  std::string csv = csv_line({"case", "label", "level", "pathological", "findings", "source_note"});
  std::string lesions_csv =
      csv_line({"case", "labels", "finding", "family", "subtle", "contrast", "size_mm", "detail", "visible_slices"});
  nlohmann::json cases = nlohmann::json::array();
  std::map<std::string, size_t> per_finding;
  std::vector<CaseEntry> chosen;
  for (const auto& entry : source.cases)
    if (options.cases.empty() || std::find(options.cases.begin(), options.cases.end(), entry.name) != options.cases.end())
      chosen.push_back(entry);
  for (const auto& name : options.cases) {
    const bool known = std::any_of(source.cases.begin(), source.cases.end(), [&](const CaseEntry& e) { return e.name == name; });
    SPINESCAN_CHECK_AS(known, ConfigError, "--cases: no case '", name, "' in ", data.string());
  }
  size_t done = 0;
  for (const auto& entry : chosen) {
    StudyInfo info, label_info;
    const Volume<float> native = read_volume(entry.image, &info);
    const Volume<uint16_t> native_labels = read_label_volume(entry.labels, &label_info);
    SPINESCAN_CHECK(native.size == native_labels.size, entry.name, ": image and labels differ in size");
    Volume<float> image = to_canonical(native);
    Volume<uint16_t> labels = to_canonical(native_labels);
    const auto rows = source.rows_of(entry.name);
    std::map<int, int64_t> counts;
    for (uint16_t l : labels.voxels)
      if (l) ++counts[l];
    std::vector<int> eligible;
    for (const auto& row : rows)
      if (row.source_note.find("partial") == std::string::npos && counts[row.label] >= 500) eligible.push_back(row.label);
    const uint64_t case_seed = Rng::derived(seed, name_hash(entry.name)).next();
    const Volume<float> image_before = image;
    const Volume<uint16_t> labels_before = labels;
    const auto lesions = paint_case(image, labels, eligible, case_seed, options);

    const fs::path dir = staged.path() / "cases" / entry.name;
    fs::create_directories(dir);
    // Back to the stored orientation, on exactly the source's grid.
    auto put_back = [&](auto canonical, const auto& like) {
      auto v = reorient(canonical, like.direction);
      SPINESCAN_CHECK(v.size == like.size, entry.name, ": reorientation changed the grid");
      v.origin_lps = like.origin_lps, v.spacing_mm = like.spacing_mm, v.direction = like.direction;
      return v;
    };
    write_like_source(put_back(image, native), info.pixel_type, dir / "image.nii.gz");
    bool moved_labels = false;
    std::map<int, const PaintedLesion*> painted;
    for (const auto& l : lesions) {
      moved_labels |= l.finding == "fracture";
      for (int label : l.labels) painted[label] = &l;
      ++per_finding[l.finding];
      lesions_csv += csv_line({entry.name, join_labels(l.labels), l.finding, std::string(1, l.family), l.subtle ? "1" : "0",
                               fmt(l.contrast, 3), fmt(l.size_mm, 1), l.detail,
                               join_labels(lesion_visible_slices(image_before, image, labels_before, labels, l.labels))});
      summary.lesions.emplace_back(entry.name, l);
    }
    if (moved_labels) {
      const auto back = put_back(labels, native_labels);
      if (label_info.pixel_type == "uint8") {
        Volume<uint8_t> small = back.template like<uint8_t>();
        for (size_t i = 0; i < back.voxels.size(); ++i) small.voxels[i] = static_cast<uint8_t>(back.voxels[i]);
        write_volume(small, dir / "vertebrae.nii.gz");
      } else {
        write_volume(back, dir / "vertebrae.nii.gz");
      }
    } else {
      fs::copy_file(entry.labels, dir / "vertebrae.nii.gz");
    }
    for (const auto& row : rows) {
      std::string value = !row.pathological ? "" : (*row.pathological ? "1" : "0");
      std::string findings = row.findings, note = row.source_note;
      const auto it = painted.find(row.label);
      if (it != painted.end()) {
        note = "painted " + it->second->finding + " (spinescan synth lesions, family " + std::string(1, it->second->family) +
               (it->second->subtle ? ", subtle" : "") + "); source label '" + value + "'";
        value = "1";
        findings = it->second->finding;
        ++summary.painted_bodies;
      } else if (options.source_labels == "unknown" && value == "1") {
        note = "source label 1 (" + row.findings + ") set unknown: not a painted finding; " + note;
        value = "";
        findings.clear();
      } else if (options.source_labels == "healthy") {
        note = "source label '" + value + "' set 0; " + note;
        value = "0";
        findings.clear();
      }
      csv += csv_line({entry.name, std::to_string(row.label), row.level, value, findings, note});
      ++summary.bodies;
    }
    // The source's entry for the case (its acquisition metadata), with the new files.
    nlohmann::json case_entry = {{"case", entry.name}};
    if (source.manifest.contains("cases") && source.manifest["cases"].is_array())
      for (const auto& c : source.manifest["cases"])
        if (c.is_object() && c.value("case", std::string()) == entry.name) case_entry = c;
    case_entry["image"] = "cases/" + entry.name + "/image.nii.gz";
    case_entry["labels"] = "cases/" + entry.name + "/vertebrae.nii.gz";
    case_entry["lesions"] = lesions.size();
    cases.push_back(case_entry);
    ++summary.cases;
    if (on_case) on_case(++done, chosen.size());
  }
  nlohmann::json manifest = source.manifest;
  const std::string source_name = manifest.value("name", data.filename().string());
  manifest["name"] = source_name + "-lesions-s" + std::to_string(seed);
  manifest["description"] = "SIMULATED LESIONS: spondylodiscitis, metastasis, fracture and diffuse infiltration painted by "
                            "spinescan synth lesions into the real anatomy of '" + source_name +
                            "'. Painted bodies are pathological=1 with findings=<lesion>. These are simulations, not "
                            "clinical findings. Source description: " + manifest.value("description", std::string());
  manifest["created_by"] = std::string("spinescan ") + version() + " (" + git_revision() + ")";
  manifest["painted"] = {{"source_dataset", source_name},
                         {"seed", seed},
                         {"fraction", options.fraction},
                         {"family", options.family},
                         {"findings", options.findings},
                         {"subtle_fraction", options.subtle_fraction},
                         {"source_labels", options.source_labels},
                         {"cases", options.cases.empty() ? nlohmann::json("all") : nlohmann::json(options.cases)},
                         {"lesions_by_finding", per_finding},
                         {"lesions_csv", "lesions.csv: one row per lesion with its drawn parameters"},
                         {"models", "docs/lesions.md"}};
  manifest["cases"] = cases;
  manifest["summary"] = {{"cases", summary.cases}, {"vertebral_bodies", summary.bodies}, {"painted_bodies", summary.painted_bodies}};
  write_text_atomically(staged.path() / "dataset.json", manifest.dump(2) + "\n");
  write_text_atomically(staged.path() / "vertebrae.csv", csv);
  write_text_atomically(staged.path() / "lesions.csv", lesions_csv);
  staged.commit();
  return summary;
}

namespace {

std::vector<CsvRow> read_lesions_csv(const fs::path& index) {
  auto rows = read_csv_file(index);
  SPINESCAN_CHECK(!rows.empty() && rows[0].size() >= 5 && rows[0][0] == "case" && rows[0][1] == "labels" &&
                      rows[0][2] == "finding" && rows[0][3] == "family" && rows[0][4] == "subtle",
                  index.string(), ": header must start case,labels,finding,family,subtle");
  for (size_t i = 1; i < rows.size(); ++i)
    SPINESCAN_CHECK(rows[i].size() >= 5, index.string(), ": line ", i + 1, " has ", rows[i].size(), " fields, expected at least 5");
  return rows;
}

// A ';'-separated list of integers of at least min_value (labels from 1, slices from 0).
std::vector<int> parse_labels(const std::string& field, const fs::path& index, int min_value = 1) {
  std::vector<int> out;
  std::string item;
  for (size_t i = 0; i <= field.size(); ++i) {
    if (i < field.size() && field[i] != ';') {
      item += field[i];
      continue;
    }
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SPINESCAN_CHECK(used == item.size() && !item.empty() && value >= min_value, index.string(), ": bad list '", field, "'");
    out.push_back(value);
    item.clear();
  }
  return out;
}

}  // namespace

std::map<std::pair<std::string, int>, PaintedBody> read_lesion_index(const fs::path& dataset_root) {
  std::map<std::pair<std::string, int>, PaintedBody> out;
  const fs::path index = dataset_root / "lesions.csv";
  if (!fs::exists(index)) return out;
  const auto rows = read_lesions_csv(index);
  for (size_t i = 1; i < rows.size(); ++i) {
    PaintedBody b;
    b.finding = rows[i][2];
    b.family = rows[i][3].empty() ? '?' : rows[i][3][0];
    b.subtle = rows[i][4] == "1";
    if (rows[i].size() > 8 && !rows[i][8].empty()) {  // older indexes have no visible_slices column
      b.visible_slices = parse_labels(rows[i][8], index, 0);
      std::sort(b.visible_slices.begin(), b.visible_slices.end());
    }
    for (int label : parse_labels(rows[i][1], index)) out[{rows[i][0], label}] = b;
  }
  return out;
}

size_t render_lesions(const fs::path& original, const fs::path& painted, const fs::path& out, size_t max_pictures) {
  const Dataset before = load_dataset(original);
  const Dataset after = load_dataset(painted);
  const fs::path index = painted / "lesions.csv";
  SPINESCAN_CHECK(fs::exists(index), index.string(), ": not found (is this a dataset written by synth lesions?)");
  const auto rows = read_lesions_csv(index);
  fs::create_directories(out);
  size_t written = 0;
  std::string loaded_case;
  Volume<float> image_before, image_after;
  Volume<uint16_t> labels_after;
  for (size_t i = 1; i < rows.size() && (max_pictures == 0 || written < max_pictures); ++i) {
    const auto& row = rows[i];
    const std::string& case_name = row[0];
    const int label = parse_labels(row[1], index).front();
    if (case_name != loaded_case) {
      image_before = to_canonical(read_volume(before.case_named(case_name).image));
      image_after = to_canonical(read_volume(after.case_named(case_name).image));
      labels_after = to_canonical(read_label_volume(after.case_named(case_name).labels));
      loaded_case = case_name;
    }
    const Body b = measure_body(image_after, labels_after, label);
    // The slice where the body is largest.
    int best_slice = b.box.s0;
    int64_t best_area = -1;
    for (int s = b.box.s0; s <= b.box.s1; ++s) {
      int64_t area = 0;
      for (int c = b.box.c0; c <= b.box.c1; ++c) area += b.top[b.column(c, s)] >= 0 ? b.bottom[b.column(c, s)] - b.top[b.column(c, s)] + 1 : 0;
      if (area > best_area) best_area = area, best_slice = s;
    }
    const auto& sp = image_after.spacing_mm;
    const int c0 = std::max(0, b.box.c0 - b.box.width() * 6 / 10), c1 = std::min<int>(image_after.size[0] - 1, b.box.c1 + b.box.width() * 6 / 10);
    const int r0 = std::max(0, b.box.r0 - b.box.height() * 8 / 10), r1 = std::min<int>(image_after.size[1] - 1, b.box.r1 + b.box.height() * 8 / 10);
    std::vector<float> crop_before;
    for (int r = r0; r <= r1; ++r)
      for (int c = c0; c <= c1; ++c) crop_before.push_back(image_before.at(c, r, best_slice));
    const double lo = percentile(crop_before, 1), hi = std::max(lo + 1e-6, percentile(crop_before, 99.5));
    const double pixel_mm = 0.5;  // square display pixels whatever the voxel size
    const int width = static_cast<int>((c1 - c0 + 1) * sp[0] / pixel_mm), height = static_cast<int>((r1 - r0 + 1) * sp[1] / pixel_mm);
    auto picture = [&](const Volume<float>& v) {
      std::vector<float> grey(static_cast<size_t>(width) * height);
      for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
          const int c = std::min(c1, c0 + static_cast<int>(x * pixel_mm / sp[0]));
          const int r = std::min(r1, r0 + static_cast<int>(y * pixel_mm / sp[1]));
          grey[static_cast<size_t>(y) * width + x] = static_cast<float>(std::clamp((v.at(c, r, best_slice) - lo) / (hi - lo), 0.0, 1.0));
        }
      return grey_to_rgb(grey, width, height);
    };
    const RgbImage pair = RgbImage::side_by_side(picture(image_before), picture(image_after), 6);
    write_png(out / (case_name + "_" + std::to_string(label) + "_" + row[2] + ".png"), pair);
    ++written;
  }
  return written;
}

}  // namespace spinescan
