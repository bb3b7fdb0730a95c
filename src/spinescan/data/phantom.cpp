#include "spinescan/data/phantom.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/core/version.h"
#include "spinescan/data/csv.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/volume_writer.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

// Coordinates in mm, canonical frame: u = anterior->posterior (column), v = superior->
// inferior (row), w = patient left->right (slice).
struct Vec2 {
  double u = 0, v = 0;
};

// Smooth pseudo-random texture: a few plane waves, amplitude ~1.
struct Texture {
  std::array<std::array<double, 4>, 7> waves{};  // ku, kv, kw, phase
  explicit Texture(Rng& rng, double wavelength_mm) {
    for (auto& w : waves) {
      const double k = 2 * M_PI / (wavelength_mm * rng.uniform(0.6, 1.6));
      const double a = rng.uniform(0, 2 * M_PI), b = rng.uniform(-0.5, 0.5);
      w = {k * std::cos(a) * std::cos(b), k * std::sin(a) * std::cos(b), k * std::sin(b), rng.uniform(0, 2 * M_PI)};
    }
  }
  double operator()(double u, double v, double w) const {
    double s = 0;
    for (const auto& q : waves) s += std::sin(q[0] * u + q[1] * v + q[2] * w + q[3]);
    return s * 0.38;  // ~unit standard deviation (7 waves of variance 1/2 each)
  }
};

enum class Pathology { none, infection, tumour, fracture, endplate };

struct Lesion {
  double s, t, w, radius, intensity;  // in the body's local frame
};

struct Body {
  std::string level;
  int label = 0;
  Vec2 center;
  double tilt = 0;  // radians; > 0: upper endplate faces anterior
  double height = 27, depth = 33, width = 45, wedge = 0, concavity = 0.04;
  double marrow = 0.42;
  Pathology pathology = Pathology::none;
  bool labelled = true;          // the sacral segment below S1 is drawn but not labelled
  int eroded_endplate = 0;       // -1 inferior, +1 superior, 2 both, 0 none
  double oedema_band_mm = 0;     // marrow band next to the eroded/fractured endplate
  double oedema_intensity = 0.7;
  std::vector<Lesion> lesions;
  bool diffuse_dark = false;
  Vec2 up() const { return {-std::sin(tilt), -std::cos(tilt)}; }
  Vec2 posterior() const { return {std::cos(tilt), -std::sin(tilt)}; }
};

struct Disc {
  Vec2 center;
  double tilt = 0, height = 10, depth = 33, width = 45;
  double nucleus = 0.85;
  bool infected = false;
};

struct Anatomy {
  double fov_u = 0, fov_v = 0, fov_w = 0, midline_w = 0;
  std::vector<Body> bodies;  // from the bottom (sacral segment, S1, L5, ...) upwards
  std::vector<Disc> discs;   // disc i lies between bodies i and i+1
  double canal_depth = 15, canal_half_width = 10, posterior_depth = 35;
  double muscle_end_u = 0, fat_end_u = 0;  // posterior layers, relative to the column wall
  double abdomen_fat_u = 0;                // anterior subcutaneous fat starts below this u
  double aorta_offset = 0, aorta_radius = 11;
  double abdomen = 0.25, muscle = 0.17;  // T2 signal of bowel/abdomen and of muscle (varies by sequence)
  Texture marrow_tex, soft_tex, bowel_tex;
  Anatomy(Rng& rng) : marrow_tex(rng, 12), soft_tex(rng, 25), bowel_tex(rng, 40) {}
};

double superellipse(double x, double y) { return x * x * x * x + y * y * y * y; }

// Local frame coordinates of point p relative to center with the given tilt.
void local(const Vec2& c, double tilt, double u, double v, double* s, double* t) {
  const double du = u - c.u, dv = v - c.v;
  *s = du * std::cos(tilt) - dv * std::sin(tilt);   // toward posterior
  *t = -du * std::sin(tilt) - dv * std::cos(tilt);  // toward superior
}

const char* findings_name(Pathology p) {
  switch (p) {
    case Pathology::infection: return "infection";
    case Pathology::tumour: return "tumour";
    case Pathology::fracture: return "fracture";
    case Pathology::endplate: return "endplate_erosion";
    default: return "";
  }
}

std::string level_name(int index_from_s1) {
  if (index_from_s1 == 0) return "S1";
  if (index_from_s1 <= 5) return "L" + std::to_string(6 - index_from_s1);
  return "T" + std::to_string(18 - index_from_s1);  // 6 -> T12, 7 -> T11
}

Anatomy build_anatomy(Rng& rng, int num_labelled, const PhantomOptions& o) {
  Anatomy a(rng);
  // Bodies from the sacral segment below S1 up to the top labelled body. Tilts (degrees) and
  // sizes follow typical adult lumbar values with some spread.
  const double tilt_mean[] = {50, 38, 20, 8, 0, -5, -9, -12, -14};
  const int total = num_labelled + 1;
  for (int i = 0; i < total; ++i) {
    Body b;
    const int from_s1 = i - 1;  // -1 = sacral segment S2
    b.labelled = from_s1 >= 0;
    b.level = b.labelled ? level_name(from_s1) : "S2";
    b.label = b.labelled ? num_labelled - from_s1 : 0;  // 1 = most cranial, as in the real data
    const bool thoracic = from_s1 >= 6;
    b.tilt = (tilt_mean[i] + rng.normal(0, 3)) * M_PI / 180;
    b.height = from_s1 < 0 ? rng.uniform(18, 22) : thoracic ? rng.uniform(21, 25) : rng.uniform(25, 30);
    b.depth = from_s1 < 0 ? rng.uniform(22, 26) : thoracic ? rng.uniform(27, 31) : rng.uniform(30, 36);
    b.width = from_s1 <= 0 ? rng.uniform(44, 50) : thoracic ? rng.uniform(34, 40) : rng.uniform(40, 50);
    b.marrow = rng.uniform(0.36, 0.48);
    b.concavity = rng.uniform(0.02, 0.06);
    a.bodies.push_back(b);
  }
  // Pathology per labelled body.
  for (int i = 1; i < total; ++i) {
    Body& b = a.bodies[i];
    if (!rng.chance(o.pathology_probability)) continue;
    const double r = rng.uniform();
    b.pathology = r < 0.25 ? Pathology::infection : r < 0.5 ? Pathology::tumour : r < 0.75 ? Pathology::fracture
                                                                                              : Pathology::endplate;
  }
  // Infection spreads across a disc: pick the disc, often involve the body on its other side.
  for (int i = 1; i < total; ++i) {
    Body& b = a.bodies[i];
    if (b.pathology != Pathology::infection || b.eroded_endplate) continue;
    int dir = rng.chance(0.5) ? 1 : -1;  // +1: the disc above
    if (i + dir >= total || (dir < 0 && i == 1)) dir = -dir;
    b.eroded_endplate = dir;
    b.oedema_band_mm = 1e9;  // whole body
    b.oedema_intensity = rng.uniform(0.7, 0.85);
    Body& n = a.bodies[i + dir];
    if (n.labelled && rng.chance(0.6) && n.pathology == Pathology::none) {
      n.pathology = Pathology::infection;
      n.eroded_endplate = -dir;
      n.oedema_band_mm = rng.uniform(6, 14);  // partial involvement of the neighbour
      n.oedema_intensity = rng.uniform(0.65, 0.8);
    }
  }
  for (int i = 1; i < total; ++i) {
    Body& b = a.bodies[i];
    switch (b.pathology) {
      case Pathology::tumour:
        if (rng.chance(0.3)) {
          b.diffuse_dark = true;
        } else {
          const int n = rng.integer(1, 3);
          const double bright = rng.chance(0.6) ? rng.uniform(0.72, 0.9) : rng.uniform(0.08, 0.18);
          for (int k = 0; k < n; ++k)
            b.lesions.push_back({rng.uniform(-0.25, 0.25) * b.depth, rng.uniform(-0.25, 0.25) * b.height,
                                 rng.uniform(-0.2, 0.2) * b.width, rng.uniform(4, 8.5), bright});
        }
        break;
      case Pathology::fracture:
        if (rng.chance(0.6)) {
          b.wedge = rng.uniform(0.25, 0.45);
        } else {
          b.height *= 1 - rng.uniform(0.2, 0.35);
          b.concavity = rng.uniform(0.12, 0.2);
        }
        b.eroded_endplate = 0;
        b.oedema_band_mm = rng.uniform(5, 10);
        b.oedema_intensity = rng.uniform(0.62, 0.8);
        break;
      case Pathology::endplate:
        b.eroded_endplate = rng.chance(0.5) ? 1 : -1;
        b.oedema_band_mm = rng.uniform(4, 8);
        b.oedema_intensity = rng.chance(0.5) ? rng.uniform(0.65, 0.8) : rng.uniform(0.6, 0.7);
        break;
      default: break;
    }
  }
  // Stack the column from the sacral segment upwards.
  const double disc_mean[] = {3, 10.5, 11, 10, 9, 8, 7, 6, 6};
  a.bodies[0].center = {0, 0};
  for (int i = 0; i + 1 < total; ++i) {
    Body& lo = a.bodies[i];
    Body& hi = a.bodies[i + 1];
    Disc d;
    d.tilt = 0.5 * (lo.tilt + hi.tilt);
    d.height = i == 0 ? rng.uniform(1.5, 3) : disc_mean[i] * rng.uniform(0.85, 1.15);
    d.depth = 0.5 * (lo.depth + hi.depth) * 1.03;
    d.width = 0.5 * (lo.width + hi.width);
    d.nucleus = i == 0 ? 0.2 : rng.chance(0.2) ? rng.uniform(0.22, 0.35) : rng.uniform(0.75, 0.92);
    const bool infected = (lo.pathology == Pathology::infection && lo.eroded_endplate == 1) ||
                          (hi.pathology == Pathology::infection && hi.eroded_endplate == -1);
    if (infected) {
      d.infected = true;
      d.nucleus = rng.uniform(0.88, 1.0);
      d.height *= rng.uniform(0.55, 0.8);
    }
    const Vec2 lo_top{lo.center.u + lo.up().u * lo.height / 2, lo.center.v + lo.up().v * lo.height / 2};
    const Vec2 mid_up{-std::sin(d.tilt), -std::cos(d.tilt)};
    d.center = {lo_top.u + mid_up.u * d.height / 2, lo_top.v + mid_up.v * d.height / 2};
    hi.center = {d.center.u + mid_up.u * d.height / 2 + hi.up().u * hi.height / 2,
                 d.center.v + mid_up.v * d.height / 2 + hi.up().v * hi.height / 2};
    a.discs.push_back(d);
  }
  // Field of view: the column plus margins; the top ends within the disc above the top body.
  double min_u = 1e9, max_u = -1e9, min_v = 1e9, max_v = -1e9;
  for (const Body& b : a.bodies) {
    min_u = std::min(min_u, b.center.u - b.depth / 2);
    max_u = std::max(max_u, b.center.u + b.depth / 2);
    min_v = std::min(min_v, b.center.v - b.height / 2);
    max_v = std::max(max_v, b.center.v + b.height / 2);
  }
  const double top_margin = rng.uniform(3, 7), bottom_margin = rng.uniform(-5, 10);
  const double anterior_margin = rng.uniform(45, 80);
  a.canal_depth = rng.uniform(13, 17);
  a.canal_half_width = rng.uniform(9, 12);
  a.posterior_depth = rng.uniform(30, 40);
  const double muscle = rng.uniform(25, 45), fat = rng.uniform(8, 22);
  const double posterior_extent = a.canal_depth + a.posterior_depth + muscle + fat + rng.uniform(0, 12);
  const Vec2 shift{anterior_margin - min_u, top_margin - min_v};
  for (Body& b : a.bodies) b.center = {b.center.u + shift.u, b.center.v + shift.v};
  for (Disc& d : a.discs) d.center = {d.center.u + shift.u, d.center.v + shift.v};
  a.fov_u = anterior_margin + (max_u - min_u) + posterior_extent;
  a.fov_v = top_margin + (max_v - min_v) + bottom_margin;
  a.fov_w = rng.uniform(56, 72);
  a.midline_w = a.fov_w / 2 + rng.uniform(-4, 4);
  a.muscle_end_u = a.canal_depth + a.posterior_depth + muscle;
  a.fat_end_u = a.muscle_end_u + fat;
  a.abdomen_fat_u = rng.uniform(-10, 25);  // anterior fat only where the field reaches the belly wall
  a.aorta_offset = rng.uniform(3, 8);
  a.aorta_radius = rng.uniform(9, 12);
  a.abdomen = rng.uniform(0.1, 0.32);
  a.muscle = rng.uniform(0.12, 0.22);
  return a;
}

// Tissue value and label at a point of the body, or false when outside.
bool sample_body(const Body& b, const Anatomy& a, double u, double v, double w, double* value) {
  const double lateral = std::abs(2 * (w - a.midline_w) / b.width);
  if (lateral >= 1) return false;
  const double section = std::pow(1 - lateral * lateral * lateral * lateral, 0.25);
  const double half_depth = b.depth / 2 * section;
  double s, t;
  local(b.center, b.tilt, u, v, &s, &t);
  const double sn = s / half_depth;
  if (std::abs(sn) >= 1) return false;
  const double wedge = 1 - b.wedge * (1 - sn) / 2;
  const double half_height = b.height / 2 * wedge * (1 - b.concavity * (1 - sn * sn));
  if (superellipse(sn, t / half_height) > 1) return false;
  // Endplate erosion: notches cut into the eroded endplate(s), filled with disc-like fluid.
  const double from_top = half_height - t, from_bottom = half_height + t;
  auto eroded = [&](int side) { return b.eroded_endplate == side || b.eroded_endplate == 2; };
  const double notch = 1.2 + 1.8 * (0.5 + 0.5 * std::sin(sn * 9.0 + b.center.u)) * (0.5 + 0.5 * std::cos(w * 0.7));
  if ((eroded(1) && from_top < notch) || (eroded(-1) && from_bottom < notch)) {
    *value = 0.8;
    return true;
  }
  const double cortex = 1.2;
  const bool inner = superellipse(s / std::max(half_depth - cortex, 1.0), t / std::max(half_height - cortex, 1.0)) <= 1;
  if (!inner) {
    *value = 0.12;
    return true;
  }
  double m = b.diffuse_dark ? 0.16 : b.marrow;
  m += 0.035 * a.marrow_tex(u, v, w);
  if (b.oedema_band_mm > 0) {
    const bool near_top = (eroded(1) || b.pathology == Pathology::fracture) && from_top < b.oedema_band_mm;
    const bool near_bottom = eroded(-1) && from_bottom < b.oedema_band_mm;
    if (near_top || near_bottom || b.oedema_band_mm > 1e6) m = b.oedema_intensity + 0.03 * a.marrow_tex(v, w, u);
  }
  for (const Lesion& l : b.lesions) {
    const double dw = w - a.midline_w - l.w;
    if ((s - l.s) * (s - l.s) + (t - l.t) * (t - l.t) + dw * dw < l.radius * l.radius) m = l.intensity;
  }
  *value = m;
  return true;
}

bool sample_disc(const Disc& d, const Anatomy& a, double u, double v, double w, double* value) {
  const double lateral = std::abs(2 * (w - a.midline_w) / d.width);
  if (lateral >= 1) return false;
  const double half_depth = d.depth / 2 * std::pow(1 - lateral * lateral * lateral * lateral, 0.25);
  double s, t;
  local(d.center, d.tilt, u, v, &s, &t);
  const double half_height = d.height / 2 + 2.0;  // reaches into the concave endplates
  if (superellipse(s / half_depth, t / half_height) > 1) return false;
  const double ns = s / (0.55 * half_depth), nt = t / (0.45 * half_height);
  *value = (d.infected || ns * ns + nt * nt < 1) ? d.nucleus : 0.2;
  return true;
}

// Everything that is not a body or disc, from the column's posterior wall at this height.
// level_phase in [0, 1) runs from one body's centre to the next one's (for the spinous
// processes, which repeat once per level with bright interspinous fat between them).
double sample_background(const Anatomy& a, double u, double v, double w, double wall_u, double front_u, double tilt,
                         double level_phase) {
  const double tex = a.soft_tex(u, v, w);
  const double dw = w - a.midline_w;
  // Distance behind the posterior wall, measured roughly perpendicular to the column.
  const double behind = (u - wall_u) * std::cos(tilt);
  if (behind > 0) {
    if (behind < a.canal_depth && std::abs(dw) < a.canal_half_width) {
      // CSF with the darker cauda equina roots in the middle.
      return (std::abs(dw) < 3 && behind > a.canal_depth * 0.3 && behind < a.canal_depth * 0.7) ? 0.55 : 0.92;
    }
    if (behind < a.canal_depth + a.posterior_depth) {
      const bool bone = level_phase > 0.1 && level_phase < 0.75 && std::abs(dw) < 24;
      return (bone ? 0.3 : 0.45) + 0.04 * tex;  // laminae and spinous processes, fat between
    }
    if (behind < a.muscle_end_u) return a.muscle + 0.03 * tex;
    if (behind < a.fat_end_u) return 0.72 + 0.03 * tex;
    return 0.01;  // air behind the back
  }
  const double in_front = front_u - u;
  if (in_front > 0) {
    const double du = in_front - a.aorta_offset - a.aorta_radius, dwa = dw + 14;  // aorta left of midline
    if (du * du + dwa * dwa < a.aorta_radius * a.aorta_radius) return 0.05;     // flow void
    if (u < a.abdomen_fat_u) return u < a.abdomen_fat_u - 15 ? 0.01 : 0.7 + 0.03 * tex;
    if (in_front < 6) return a.muscle + 0.03 * tex;  // anterior longitudinal ligament, psoas edge
    // Bowel: mostly the abdomen's grey with fluid-bright and gas-dark loops.
    const double b = a.bowel_tex(u, v, w);
    return std::clamp(a.abdomen + 0.12 * b + (b > 1.2 ? 0.35 : 0.0) - (b < -1.3 ? 0.15 : 0.0), 0.02, 1.0);
  }
  return a.muscle + 0.08 + 0.03 * tex;  // beside the column (lateral slices): psoas and paraspinal muscle
}

}  // namespace

void PhantomOptions::validate() const {
  SPINESCAN_CHECK_AS(min_bodies >= 5 && max_bodies <= 8 && min_bodies <= max_bodies, ConfigError,
                     "phantom bodies must satisfy 5 <= min <= max <= 8, got ", min_bodies, "..", max_bodies);
  SPINESCAN_CHECK_AS(min_inplane_spacing_mm > 0 && min_inplane_spacing_mm <= max_inplane_spacing_mm, ConfigError,
                     "invalid in-plane spacing range");
  SPINESCAN_CHECK_AS(min_slice_spacing_mm > 0 && min_slice_spacing_mm <= max_slice_spacing_mm, ConfigError,
                     "invalid slice spacing range");
  SPINESCAN_CHECK_AS(pathology_probability >= 0 && pathology_probability <= 1, ConfigError,
                     "pathology probability must be in [0, 1]");
}

Phantom make_phantom(uint64_t seed, const PhantomOptions& o) {
  o.validate();
  Rng rng(seed);
  const int num_labelled = rng.integer(o.min_bodies, o.max_bodies);
  const Anatomy a = build_anatomy(rng, num_labelled, o);
  const double inplane = rng.uniform(o.min_inplane_spacing_mm, o.max_inplane_spacing_mm);
  const double slice = rng.uniform(o.min_slice_spacing_mm, o.max_slice_spacing_mm);

  Phantom p;
  Volume<float> intensity;
  intensity.size = {static_cast<int64_t>(std::ceil(a.fov_u / inplane)), static_cast<int64_t>(std::ceil(a.fov_v / inplane)),
                    std::max<int64_t>(2, static_cast<int64_t>(std::lround(a.fov_w / slice)))};
  intensity.spacing_mm = {inplane, inplane, slice};
  intensity.direction = kCanonicalDirection;
  // Physical placement: the volume centred on the patient's midline, posterior wall near y = 0.
  intensity.origin_lps = {a.midline_w, -a.bodies[1].center.u, a.bodies[1].center.v};
  intensity.voxels.assign(intensity.num_voxels(), 0.0f);
  p.canonical_labels = intensity.like<uint8_t>();

  // Posterior wall and anterior face of the column, per row (for the background layers).
  const int64_t cols = intensity.size[0], rows = intensity.size[1], slices = intensity.size[2];
  std::vector<double> wall_u(rows), front_u(rows), wall_tilt(rows), level_phase(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const double v = (r + 0.5) * inplane;
    // Interpolate between body centres by height; the list runs from the bottom upwards.
    size_t i = 0;
    while (i + 1 < a.bodies.size() && a.bodies[i + 1].center.v > v) ++i;
    const Body& lo = a.bodies[i];
    const Body& hi = a.bodies[std::min(i + 1, a.bodies.size() - 1)];
    const double f = (&lo == &hi || lo.center.v == hi.center.v) ? 0 : std::clamp((lo.center.v - v) / (lo.center.v - hi.center.v), 0.0, 1.0);
    const double cu = lo.center.u + f * (hi.center.u - lo.center.u);
    const double depth = lo.depth + f * (hi.depth - lo.depth);
    wall_tilt[r] = lo.tilt + f * (hi.tilt - lo.tilt);
    level_phase[r] = f;
    wall_u[r] = cu + depth / 2 / std::cos(wall_tilt[r]) + 0.5;
    front_u[r] = cu - depth / 2 / std::cos(wall_tilt[r]) - 0.5;
  }
  // Structures that can reach each row (bounding extent of each body and disc along v).
  auto v_range = [](const Vec2& c, double depth, double height) {
    const double r = 0.5 * std::hypot(depth, height) + 3;
    return std::pair<double, double>{c.v - r, c.v + r};
  };
  for (int64_t k = 0; k < slices; ++k) {
    const double w = (k + 0.5) * slice;
    for (int64_t r = 0; r < rows; ++r) {
      const double v = (r + 0.5) * inplane;
      float* row = &intensity.voxels[intensity.index(0, r, k)];
      uint8_t* label_row = &p.canonical_labels.voxels[p.canonical_labels.index(0, r, k)];
      std::vector<const Body*> bodies;
      std::vector<const Disc*> discs;
      for (const Body& b : a.bodies) {
        const auto [lo, hi] = v_range(b.center, b.depth, b.height);
        if (v >= lo && v <= hi) bodies.push_back(&b);
      }
      for (const Disc& d : a.discs) {
        const auto [lo, hi] = v_range(d.center, d.depth, d.height + 4);
        if (v >= lo && v <= hi) discs.push_back(&d);
      }
      for (int64_t c = 0; c < cols; ++c) {
        const double u = (c + 0.5) * inplane;
        double value = 0;
        bool done = false;
        for (const Body* b : bodies)
          if (sample_body(*b, a, u, v, w, &value)) {
            if (b->labelled) label_row[c] = static_cast<uint8_t>(b->label);
            done = true;
            break;
          }
        if (!done)
          for (const Disc* d : discs)
            if (sample_disc(*d, a, u, v, w, &value)) {
              done = true;
              break;
            }
        if (!done) value = sample_background(a, u, v, w, wall_u[r], front_u[r], wall_tilt[r], level_phase[r]);
        row[c] = static_cast<float>(value);
      }
    }
  }
  // Scanner: smooth multiplicative bias field, Rician noise, gain.
  std::array<double, 6> bias{};
  for (double& c : bias) c = rng.uniform(-1, 1) * o.bias_strength;
  const double noise_sd = rng.uniform(o.min_noise_sd, o.max_noise_sd);
  const double gain = rng.uniform(600, 3000);
  p.canonical_image = intensity.like<int16_t>();
  for (int64_t k = 0; k < slices; ++k)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const double x = 2.0 * c / cols - 1, y = 2.0 * r / rows - 1, z = 2.0 * k / slices - 1;
        const double field = std::exp(bias[0] * x + bias[1] * y + bias[2] * x * y + bias[3] * (x * x - 0.33) +
                                      bias[4] * (y * y - 0.33) + bias[5] * z * 0.5);
        const int64_t i = intensity.index(c, r, k);
        const double s = intensity.voxels[i] * field;
        const double re = s + noise_sd * rng.normal(), im = noise_sd * rng.normal();
        p.canonical_image.voxels[i] = static_cast<int16_t>(std::min<long>(32767, std::lround(std::hypot(re, im) * gain)));
      }

  for (const Body& b : a.bodies) {
    if (!b.labelled) continue;
    PhantomBody out;
    out.label = b.label;
    out.level = b.level;
    out.pathological = b.pathology != Pathology::none;
    out.findings = findings_name(b.pathology);
    p.bodies.push_back(out);
  }
  std::sort(p.bodies.begin(), p.bodies.end(), [](const PhantomBody& x, const PhantomBody& y) { return x.label < y.label; });

  if (o.random_direction) {
    std::vector<int> perm{0, 1, 2};
    rng.shuffle(perm);
    const std::array<int, 3> signs{rng.chance(0.5) ? 1 : -1, rng.chance(0.5) ? 1 : -1, rng.chance(0.5) ? 1 : -1};
    p.stored_direction = signed_permutation({perm[0], perm[1], perm[2]}, signs);
  } else {
    p.stored_direction = kCanonicalDirection;
  }
  return p;
}

void write_phantom_dataset(const fs::path& out, int num_cases, uint64_t seed, const PhantomOptions& o, bool overwrite,
                           const std::function<void(int, int)>& on_case) {
  SPINESCAN_CHECK_AS(num_cases >= 1, ConfigError, "--cases must be at least 1, got ", num_cases);
  o.validate();
  StagedDirectory staged(out, overwrite);
  nlohmann::json cases = nlohmann::json::array();
  std::string csv = csv_line({"case", "label", "level", "pathological", "findings", "source_note"});
  size_t num_bodies = 0, num_pathological = 0;
  for (int i = 0; i < num_cases; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "phantom_%03d", i);
    Rng case_rng = Rng::derived(seed, static_cast<uint64_t>(i));
    const Phantom p = make_phantom(case_rng.next(), o);
    const fs::path dir = staged.path() / "cases" / name;
    fs::create_directories(dir);
    write_volume(reorient(p.canonical_image, p.stored_direction), dir / "image.nii.gz");
    write_volume(reorient(p.canonical_labels, p.stored_direction), dir / "vertebrae.nii.gz");
    for (const auto& b : p.bodies) {
      csv += csv_line({name, std::to_string(b.label), b.level, b.pathological ? "1" : "0", b.findings,
                       "phantom (spinescan synth)"});
      ++num_bodies;
      num_pathological += b.pathological;
    }
    cases.push_back({{"case", name},
                     {"image", std::string("cases/") + name + "/image.nii.gz"},
                     {"labels", std::string("cases/") + name + "/vertebrae.nii.gz"},
                     {"orientation", orientation_code(p.stored_direction)},
                     {"spacing_mm_canonical", p.canonical_image.spacing_mm},
                     {"n_bodies", p.bodies.size()}});
    if (on_case) on_case(i + 1, num_cases);
  }
  nlohmann::json manifest = {
      {"name", "spinescan-phantoms"},
      {"format_version", "1.0"},
      {"description", "Synthetic sagittal lumbar spine MRI phantoms made by spinescan synth; not patient data."},
      {"created_by", std::string("spinescan ") + version() + " (" + git_revision() + ")"},
      {"generator", {{"seed", seed}, {"cases", num_cases}}},
      {"modality", "MR (synthetic, T2-like contrast)"},
      {"licence", "generated data, no restrictions"},
      {"orientation", "each case is stored under a random axis permutation/flip (see 'orientation'); read it through ITK"},
      {"labels", {{"0", "background"}, {"1..N", "vertebral bodies, 1 = most cranial"}}},
      {"cases", cases},
      {"summary", {{"bodies", num_bodies}, {"pathological", num_pathological}}}};
  write_text_atomically(staged.path() / "dataset.json", manifest.dump(2) + "\n");
  write_text_atomically(staged.path() / "vertebrae.csv", csv);
  staged.commit();
}

}  // namespace spinescan
