#include <gtest/gtest.h>

#include <cmath>

#include "spinescan/core/errors.h"
#include "spinescan/io/orientation.h"

using namespace spinescan;

namespace {

Volume<float> numbered_volume(std::array<int64_t, 3> size, const Matrix3& direction) {
  Volume<float> v;
  v.size = size;
  v.spacing_mm = {0.5, 0.75, 3.0};
  v.origin_lps = {10, -20, 30};
  v.direction = direction;
  v.voxels.resize(v.num_voxels());
  for (size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<float>(i);
  return v;
}

std::array<double, 3> physical(const Volume<float>& v, int64_t i0, int64_t i1, int64_t i2) {
  std::array<double, 3> p{};
  const double idx[3] = {static_cast<double>(i0), static_cast<double>(i1), static_cast<double>(i2)};
  for (int r = 0; r < 3; ++r) {
    p[r] = v.origin_lps[r];
    for (int c = 0; c < 3; ++c) p[r] += v.direction[r][c] * v.spacing_mm[c] * idx[c];
  }
  return p;
}

}  // namespace

TEST(Orientation, CodesNameTheDirectionEachAxisPointsToward) {
  EXPECT_EQ(orientation_code(identity_matrix()), "LPS");
  EXPECT_EQ(orientation_code(kCanonicalDirection), "PIR");
  EXPECT_EQ(orientation_code(signed_permutation({2, 0, 1}, {-1, 1, -1})), "ILA");
}

TEST(Orientation, IdentityLpsVolumeMapsToCanonicalByHand) {
  // Input axes: i -> patient left, j -> posterior, k -> superior (the shared dataset's layout).
  const Volume<float> in = numbered_volume({2, 3, 4}, identity_matrix());
  const Volume<float> c = to_canonical(in);
  // Canonical: col = j (A->P), row = 3 - k (S->I), slice = 1 - i (L->R).
  ASSERT_EQ(c.size, (std::array<int64_t, 3>{3, 4, 2}));
  EXPECT_EQ(c.spacing_mm, (std::array<double, 3>{0.75, 3.0, 0.5}));
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t col = 0; col < 3; ++col) EXPECT_EQ(c.at(col, r, s), in.at(1 - s, col, 3 - r));
  // The first canonical voxel sits where input voxel (1, 0, 3) sat.
  const auto expected = physical(in, 1, 0, 3);
  for (int p = 0; p < 3; ++p) EXPECT_DOUBLE_EQ(c.origin_lps[p], expected[p]);
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 3; ++col) EXPECT_EQ(c.direction[r][col], kCanonicalDirection[r][col]);
}

TEST(Orientation, EverySignedPermutationRoundTripsAndKeepsPhysicalPositions) {
  const Volume<float> canonical = numbered_volume({5, 4, 3}, kCanonicalDirection);
  int tested = 0;
  const std::array<std::array<int, 3>, 6> perms{{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}};
  for (const auto& perm : perms)
    for (int sign_bits = 0; sign_bits < 8; ++sign_bits) {
      const std::array<int, 3> signs{sign_bits & 1 ? -1 : 1, sign_bits & 2 ? -1 : 1, sign_bits & 4 ? -1 : 1};
      const Matrix3 d = signed_permutation(perm, signs);
      const Volume<float> stored = reorient(canonical, d);
      // Each voxel value is its canonical linear index; it must sit at the same physical point.
      for (int64_t k = 0; k < stored.size[2]; ++k)
        for (int64_t j = 0; j < stored.size[1]; ++j)
          for (int64_t i = 0; i < stored.size[0]; ++i) {
            const auto idx = static_cast<int64_t>(stored.at(i, j, k));
            const int64_t c0 = idx % 5, c1 = (idx / 5) % 4, c2 = idx / 20;
            const auto a = physical(stored, i, j, k), b = physical(canonical, c0, c1, c2);
            for (int p = 0; p < 3; ++p) ASSERT_NEAR(a[p], b[p], 1e-9);
          }
      const Volume<float> back = to_canonical(stored);
      EXPECT_EQ(back.voxels, canonical.voxels);
      EXPECT_EQ(back.size, canonical.size);
      EXPECT_EQ(back.spacing_mm, canonical.spacing_mm);
      for (int p = 0; p < 3; ++p) EXPECT_NEAR(back.origin_lps[p], canonical.origin_lps[p], 1e-9);
      ++tested;
    }
  EXPECT_EQ(tested, 48);
}

TEST(Orientation, ObliqueDirectionMapsToNearestAxesAndReportsTheAngle) {
  const double a = 20 * M_PI / 180;
  Matrix3 d = identity_matrix();
  d[1][1] = std::cos(a);
  d[2][1] = std::sin(a);
  d[1][2] = -std::sin(a);
  d[2][2] = std::cos(a);
  EXPECT_NEAR(obliquity_degrees(d), 20.0, 1e-9);
  EXPECT_EQ(orientation_code(d), "LPS");
  const AxisMapping m = mapping_to(d, kCanonicalDirection);
  EXPECT_EQ(m.input_axis, (std::array<int, 3>{1, 2, 0}));
  EXPECT_EQ(m.flip, (std::array<bool, 3>{false, true, true}));
}

TEST(Orientation, DegenerateDirectionIsRejected) {
  Matrix3 d = identity_matrix();
  d[0][1] = 1;
  d[1][1] = 0;  // axes 0 and 1 both along x
  EXPECT_THROW(mapping_to(d, kCanonicalDirection), DataError);
}

TEST(Orientation, AcquisitionPlaneFollowsTheThickAxis) {
  EXPECT_EQ(acquisition_plane(identity_matrix(), {4.0, 0.5, 0.5}), "sagittal");
  EXPECT_EQ(acquisition_plane(identity_matrix(), {0.5, 0.5, 4.0}), "axial");
  EXPECT_EQ(acquisition_plane(signed_permutation({2, 0, 1}, {1, 1, 1}), {3.0, 0.7, 0.7}), "axial");
  EXPECT_EQ(acquisition_plane(identity_matrix(), {1.0, 1.0, 1.05}), "isotropic");
}
