// The lesion painter (data/lesions.h): deterministic, each model changes its own body (and
// for spondylodiscitis the disc and the body across it) and little else, a fracture loses
// height and its label follows, a case paints each body at most once.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/lesions.h"
#include "test_util.h"

using namespace spinescan;

namespace {

struct Scene {
  Volume<float> image;
  Volume<uint16_t> labels;
  std::vector<int> bodies;  // labels present, cranial first
};

// A phantom at 1 mm in plane and 2 mm slices, with no pathology of its own.
Scene scene(uint64_t seed) {
  PhantomOptions o;
  o.min_inplane_spacing_mm = o.max_inplane_spacing_mm = 1.0;
  o.min_slice_spacing_mm = o.max_slice_spacing_mm = 2.0;
  o.pathology_probability = 0;
  o.random_direction = false;
  const Phantom p = make_phantom(seed, o);
  Scene s;
  s.image = p.canonical_image.like<float>();
  for (size_t i = 0; i < s.image.voxels.size(); ++i) s.image.voxels[i] = p.canonical_image.voxels[i];
  s.labels = p.canonical_labels.like<uint16_t>();
  for (size_t i = 0; i < s.labels.voxels.size(); ++i) s.labels.voxels[i] = p.canonical_labels.voxels[i];
  for (const auto& b : p.bodies) s.bodies.push_back(b.label);
  return s;
}

struct Extent {
  int c0 = 1 << 30, c1 = -1, r0 = 1 << 30, r1 = -1, s0 = 1 << 30, s1 = -1;
  int64_t voxels = 0;
};

Extent extent_of(const Volume<uint16_t>& labels, const std::set<int>& ids) {
  Extent e;
  for (int s = 0; s < labels.size[2]; ++s)
    for (int r = 0; r < labels.size[1]; ++r)
      for (int c = 0; c < labels.size[0]; ++c)
        if (ids.count(labels.at(c, r, s))) {
          e.c0 = std::min(e.c0, c), e.c1 = std::max(e.c1, c);
          e.r0 = std::min(e.r0, r), e.r1 = std::max(e.r1, r);
          e.s0 = std::min(e.s0, s), e.s1 = std::max(e.s1, s);
          ++e.voxels;
        }
  return e;
}

}  // namespace

TEST(Lesions, SameSeedSameVoxelsOtherSeedOtherVoxels) {
  LesionOptions o;
  o.fraction = 0.6;
  Scene a = scene(2), b = scene(2), c = scene(2);
  const auto la = paint_case(a.image, a.labels, a.bodies, 77, o);
  const auto lb = paint_case(b.image, b.labels, b.bodies, 77, o);
  const auto lc = paint_case(c.image, c.labels, c.bodies, 78, o);
  ASSERT_FALSE(la.empty());
  EXPECT_EQ(a.image.voxels, b.image.voxels);
  EXPECT_EQ(a.labels.voxels, b.labels.voxels);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_EQ(la[i].detail, lb[i].detail);
  EXPECT_NE(a.image.voxels, c.image.voxels) << "another seed paints other lesions";
}

TEST(Lesions, EachModelChangesItsBodyAndLittleElse) {
  for (const std::string& finding : lesion_findings())
    for (char family : {'a', 'b'}) {
      Scene s = scene(5);
      const Scene before = scene(5);
      const int label = s.bodies[s.bodies.size() / 2 - 1];
      Rng rng(31);
      const PaintedLesion lesion = paint_lesion(s.image, s.labels, finding, label, family, false, rng);
      SCOPED_TRACE(finding + " family " + family + ": " + lesion.detail);
      EXPECT_EQ(lesion.finding, finding);
      EXPECT_EQ(lesion.family, family);
      const std::set<int> marked(lesion.labels.begin(), lesion.labels.end());
      ASSERT_EQ(marked.size(), finding == "spondylodiscitis" ? 2u : 1u);
      EXPECT_TRUE(marked.count(label));
      if (finding == "spondylodiscitis") {
        const int other = *marked.rbegin() == label ? *marked.begin() : *marked.rbegin();
        EXPECT_EQ(std::abs(other - label), 1) << "the body across one disc";
      }
      // Every changed voxel lies within 16 mm (16 voxels in plane, 8 slices) of the marked bodies.
      const Extent e = extent_of(before.labels, marked);
      int64_t changed = 0, changed_inside = 0, changed_far = 0;
      double shift_inside = 0;
      for (int z = 0; z < s.image.size[2]; ++z)
        for (int r = 0; r < s.image.size[1]; ++r)
          for (int c = 0; c < s.image.size[0]; ++c) {
            const float d = s.image.at(c, r, z) - before.image.at(c, r, z);
            if (std::abs(d) < 1e-3f) continue;
            ++changed;
            const bool near = c >= e.c0 - 16 && c <= e.c1 + 16 && r >= e.r0 - 16 && r <= e.r1 + 16 && z >= e.s0 - 8 &&
                              z <= e.s1 + 8;
            changed_far += !near;
            if (marked.count(before.labels.at(c, r, z))) ++changed_inside, shift_inside += std::abs(d);
          }
      EXPECT_GT(changed_inside, 0);
      EXPECT_EQ(changed_far, 0) << changed << " voxels changed";
      EXPECT_GT(shift_inside / std::max<int64_t>(1, changed_inside), 1.0) << "a visible change, not rounding";
      // Other bodies keep their labels.
      for (int other : s.bodies)
        if (!marked.count(other)) EXPECT_EQ(extent_of(s.labels, {other}).voxels, extent_of(before.labels, {other}).voxels);
    }
}

TEST(Lesions, FractureLosesHeightAndItsLabelFollows) {
  for (char family : {'a', 'b'}) {
    Scene s = scene(9);
    const int label = s.bodies[s.bodies.size() / 2];
    const Extent before = extent_of(s.labels, {label});
    Rng rng(4);
    const PaintedLesion lesion = paint_lesion(s.image, s.labels, "fracture", label, family, false, rng);
    const Extent after = extent_of(s.labels, {label});
    SCOPED_TRACE(lesion.detail);
    EXPECT_GE(lesion.size_mm, 0.15 * (before.r1 - before.r0) * 0.99) << "at least 15 % of the height lost";
    EXPECT_LT(after.voxels, before.voxels * 0.97) << "the labelled body shrinks with the image";
    EXPECT_EQ(after.r1, before.r1) << "it collapses onto its inferior endplate";
    EXPECT_GT(after.r0, before.r0);
  }
}

TEST(Lesions, SpondylodiscitisBrightensTheDiscBetweenItsBodies) {
  Scene s = scene(12);
  const Scene before = scene(12);
  const int upper = s.bodies[1], lower = s.bodies[2];
  Rng rng(8);
  paint_lesion(s.image, s.labels, "spondylodiscitis", upper, 'a', false, rng);
  // The disc: between the two bodies in the central slice's central columns.
  const Extent u = extent_of(before.labels, {upper}), l = extent_of(before.labels, {lower});
  const int slice = (u.s0 + u.s1) / 2, c_mid = (u.c0 + u.c1) / 2;
  double disc_before = 0, disc_after = 0;
  int n = 0;
  for (int c = c_mid - 3; c <= c_mid + 3; ++c)
    for (int r = u.r0; r <= l.r1; ++r)
      if (before.labels.at(c, r, slice) == 0 && r > (u.r0 + u.r1) / 2 && r < (l.r0 + l.r1) / 2) {
        disc_before += before.image.at(c, r, slice);
        disc_after += s.image.at(c, r, slice);
        ++n;
      }
  ASSERT_GT(n, 0);
  EXPECT_GT(disc_after / n, disc_before / n + 1.0);
}

TEST(Lesions, ACasePaintsEachBodyAtMostOnce) {
  LesionOptions o;
  o.fraction = 1.0;
  Scene s = scene(3);
  const auto lesions = paint_case(s.image, s.labels, s.bodies, 5, o);
  std::multiset<int> marked;
  for (const auto& l : lesions) marked.insert(l.labels.begin(), l.labels.end());
  EXPECT_EQ(marked.size(), s.bodies.size()) << "fraction 1 paints every eligible body";
  for (int b : s.bodies) EXPECT_EQ(marked.count(b), 1u);

  LesionOptions bad;
  bad.family = "c";
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = LesionOptions{};
  bad.findings = {"gout"};
  EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(Lesions, VisibleSlicesAreWhereThePaintingChangedTheBody) {
  Scene s = scene(4);
  const int body = s.bodies[2];
  const Extent e = extent_of(s.labels, {body});
  const Volume<float> before = s.image;
  // Nothing changed: no slice shows anything.
  EXPECT_TRUE(lesion_visible_slices(before, s.image, s.labels, s.labels, {body}).empty());
  // A 6 x 6 voxel patch on two middle slices of the body, and a faint speck (under a quarter
  // of the largest change) on a third: only the two patch slices show the lesion.
  const int c = (e.c0 + e.c1) / 2, r = (e.r0 + e.r1) / 2, mid = (e.s0 + e.s1) / 2;
  for (int sl : {mid, mid + 1})
    for (int dr = 0; dr < 6; ++dr)
      for (int dc = 0; dc < 6; ++dc) s.image.at(c + dc, r + dr, sl) += 100.0f;
  for (int dc = 0; dc < 6; ++dc) s.image.at(c + dc, r, mid - 2) += 10.0f;
  EXPECT_EQ(lesion_visible_slices(before, s.image, s.labels, s.labels, {body}), (std::vector<int>{mid, mid + 1}));
  // A painted metastasis shows on some of its body's slices, never outside them.
  Scene m = scene(4);
  const Volume<float> clean = m.image;
  Rng rng(9);
  paint_lesion(m.image, m.labels, "metastasis", body, 'a', false, rng);
  const auto shown = lesion_visible_slices(clean, m.image, m.labels, m.labels, {body});
  ASSERT_FALSE(shown.empty());
  EXPECT_GE(shown.front(), e.s0);
  EXPECT_LE(shown.back(), e.s1);
}
