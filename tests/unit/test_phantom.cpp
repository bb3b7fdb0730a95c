#include <gtest/gtest.h>

#include <map>
#include <set>

#include "spinescan/core/errors.h"
#include "spinescan/data/boxes.h"
#include "spinescan/data/dataset.h"
#include "spinescan/io/orientation.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::small_phantom_options;
using spinescan::testing::TempDir;

TEST(Phantom, SameSeedSameVoxelsOtherSeedOtherVoxels) {
  const auto o = small_phantom_options();
  const Phantom a = make_phantom(3, o), b = make_phantom(3, o), c = make_phantom(4, o);
  EXPECT_EQ(a.canonical_image.voxels, b.canonical_image.voxels);
  EXPECT_EQ(a.canonical_labels.voxels, b.canonical_labels.voxels);
  EXPECT_NE(a.canonical_image.voxels, c.canonical_image.voxels);
}

TEST(Phantom, LevelsAreNamedFromTheSacrumAndLabelsNumberedFromTheTop) {
  const auto o = small_phantom_options();
  std::set<size_t> body_counts;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const Phantom p = make_phantom(seed, o);
    const size_t n = p.bodies.size();
    body_counts.insert(n);
    ASSERT_GE(n, 5u);
    ASSERT_LE(n, 7u);
    // Cranial first: label 1 .. n, the last one S1, the one above it L5.
    EXPECT_EQ(p.bodies.back().level, "S1");
    EXPECT_EQ(p.bodies[n - 2].level, "L5");
    EXPECT_EQ(p.bodies[n - 3].level, "L4");
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(p.bodies[i].label, static_cast<int>(i + 1));
    // Label 1 must be the highest body in the image (smallest mean row), S1 the lowest.
    std::map<int, std::pair<double, int64_t>> row_sum;
    const auto& l = p.canonical_labels;
    for (int64_t k = 0; k < l.size[2]; ++k)
      for (int64_t r = 0; r < l.size[1]; ++r)
        for (int64_t c = 0; c < l.size[0]; ++c)
          if (const int id = l.at(c, r, k)) {
            row_sum[id].first += r;
            ++row_sum[id].second;
          }
    ASSERT_EQ(row_sum.size(), n) << "every labelled body is drawn, seed " << seed;
    double previous = -1;
    for (const auto& [id, sum] : row_sum) {
      const double mean_row = sum.first / sum.second;
      EXPECT_GT(mean_row, previous) << "seed " << seed << " label " << id;
      previous = mean_row;
    }
  }
  EXPECT_GE(body_counts.size(), 2u) << "the body count should vary between phantoms";
}

TEST(Phantom, SpacingAndDirectionFollowTheOptions) {
  PhantomOptions o;  // the default ranges
  for (uint64_t seed = 0; seed < 3; ++seed) {
    PhantomOptions coarse = small_phantom_options();
    const Phantom p = make_phantom(seed, coarse);
    EXPECT_GE(p.canonical_image.spacing_mm[0], coarse.min_inplane_spacing_mm);
    EXPECT_LE(p.canonical_image.spacing_mm[0], coarse.max_inplane_spacing_mm);
    EXPECT_EQ(p.canonical_image.spacing_mm[0], p.canonical_image.spacing_mm[1]);
    EXPECT_GE(p.canonical_image.spacing_mm[2], coarse.min_slice_spacing_mm);
    EXPECT_LE(p.canonical_image.spacing_mm[2], coarse.max_slice_spacing_mm);
    EXPECT_DOUBLE_EQ(obliquity_degrees(p.stored_direction), 0.0);
  }
  std::set<std::string> codes;
  for (uint64_t seed = 0; seed < 10; ++seed) codes.insert(orientation_code(make_phantom(seed, small_phantom_options()).stored_direction));
  EXPECT_GE(codes.size(), 4u) << "directions should vary";
  o.random_direction = false;
  o.min_inplane_spacing_mm = o.max_inplane_spacing_mm = 2;
  EXPECT_EQ(orientation_code(make_phantom(1, o).stored_direction), "PIR");
}

TEST(Phantom, PathologiesOfEveryKindAppearAndAreLabelled) {
  PhantomOptions o = small_phantom_options();
  o.pathology_probability = 0.5;
  std::map<std::string, int> kinds;
  int healthy = 0;
  for (uint64_t seed = 0; seed < 25; ++seed)
    for (const auto& b : make_phantom(seed, o).bodies) {
      if (b.pathological) ++kinds[b.findings];
      else {
        ++healthy;
        EXPECT_TRUE(b.findings.empty());
      }
    }
  for (const char* k : {"infection", "tumour", "fracture", "endplate_erosion"}) EXPECT_GE(kinds[k], 2) << k;
  EXPECT_GE(healthy, 20);
  o.pathology_probability = 0;
  for (const auto& b : make_phantom(1, o).bodies) EXPECT_FALSE(b.pathological);
}

TEST(Phantom, DiscNucleusAndCsfAreBrighterThanHealthyMarrow) {
  // T2 contrast check on the middle slice: the mean of labelled (body) voxels must be well
  // below the brightest tissue (CSF / nucleus), as on a T2-weighted image.
  PhantomOptions o = small_phantom_options();
  o.pathology_probability = 0;
  const Phantom p = make_phantom(2, o);
  const int64_t k = p.canonical_image.size[2] / 2;
  double body = 0, n_body = 0;
  std::vector<int16_t> all;
  for (int64_t r = 0; r < p.canonical_image.size[1]; ++r)
    for (int64_t c = 0; c < p.canonical_image.size[0]; ++c) {
      all.push_back(p.canonical_image.at(c, r, k));
      if (p.canonical_labels.at(c, r, k)) {
        body += p.canonical_image.at(c, r, k);
        ++n_body;
      }
    }
  ASSERT_GT(n_body, 100);
  std::sort(all.begin(), all.end());
  const double p99 = all[all.size() * 99 / 100];
  EXPECT_LT(body / n_body, 0.65 * p99);
}

TEST(Phantom, DatasetIsValidAndByteIdenticalForTheSameSeed) {
  TempDir tmp;
  const auto o = small_phantom_options();
  write_phantom_dataset(tmp / "a", 2, 17, o, false);
  write_phantom_dataset(tmp / "b", 2, 17, o, false);
  for (const char* f : {"vertebrae.csv", "cases/phantom_001/image.nii.gz", "cases/phantom_001/vertebrae.nii.gz"})
    EXPECT_EQ(read_file(tmp / "a" / f), read_file(tmp / "b" / f)) << f;
  const Dataset d = load_dataset(tmp / "a");
  EXPECT_EQ(d.cases.size(), 2u);
  EXPECT_TRUE(check_dataset(d).empty());
  // An existing folder is not replaced unless asked.
  EXPECT_THROW(write_phantom_dataset(tmp / "a", 1, 1, o, false), ConfigError);
  EXPECT_NO_THROW(write_phantom_dataset(tmp / "a", 1, 1, o, true));
  EXPECT_EQ(load_dataset(tmp / "a").cases.size(), 1u);
  // No staging folder is left behind.
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}
