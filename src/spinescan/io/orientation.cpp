#include "spinescan/io/orientation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "spinescan/core/errors.h"

namespace spinescan {
namespace {

// Patient axis (0=x, 1=y, 2=z) a direction column is closest to.
int dominant_axis(const Matrix3& d, int column) {
  int best = 0;
  for (int p = 1; p < 3; ++p)
    if (std::abs(d[p][column]) > std::abs(d[best][column])) best = p;
  return best;
}

}  // namespace

AxisMapping mapping_to(const Matrix3& direction, const Matrix3& target) {
  std::array<int, 3> patient_of_input{};
  for (int j = 0; j < 3; ++j) patient_of_input[j] = dominant_axis(direction, j);
  SPINESCAN_CHECK(patient_of_input[0] != patient_of_input[1] && patient_of_input[0] != patient_of_input[2] &&
                      patient_of_input[1] != patient_of_input[2],
                  "degenerate direction matrix: two voxel axes point along the same patient axis");
  AxisMapping m;
  for (int a = 0; a < 3; ++a) {
    const int p = dominant_axis(target, a);
    const int j = static_cast<int>(std::find(patient_of_input.begin(), patient_of_input.end(), p) -
                                   patient_of_input.begin());
    m.input_axis[a] = j;
    m.flip[a] = (direction[p][j] > 0) != (target[p][a] > 0);
  }
  return m;
}

std::string orientation_code(const Matrix3& direction) {
  // LPS letters for +x, +y, +z and the opposites.
  static const char positive[3] = {'L', 'P', 'S'};
  static const char negative[3] = {'R', 'A', 'I'};
  std::string code;
  for (int j = 0; j < 3; ++j) {
    const int p = dominant_axis(direction, j);
    code += direction[p][j] > 0 ? positive[p] : negative[p];
  }
  return code;
}

double obliquity_degrees(const Matrix3& direction) {
  double worst = 0;
  for (int j = 0; j < 3; ++j) {
    double norm = 0;
    for (int p = 0; p < 3; ++p) norm += direction[p][j] * direction[p][j];
    const double cosine = std::abs(direction[dominant_axis(direction, j)][j]) / std::sqrt(norm);
    worst = std::max(worst, std::acos(std::min(1.0, cosine)) * 180.0 / M_PI);
  }
  return worst;
}

std::string acquisition_plane(const Matrix3& direction, const std::array<double, 3>& spacing_mm) {
  const auto [lo, hi] = std::minmax_element(spacing_mm.begin(), spacing_mm.end());
  if (*hi < 1.1 * *lo) return "isotropic";
  const int thick_axis = static_cast<int>(hi - spacing_mm.begin());
  switch (dominant_axis(direction, thick_axis)) {
    case 0: return "sagittal";
    case 1: return "coronal";
    default: return "axial";
  }
}

template <class T>
Volume<T> apply_mapping(const Volume<T>& in, const AxisMapping& m) {
  Volume<T> out;
  for (int a = 0; a < 3; ++a) {
    const int j = m.input_axis[a];
    out.size[a] = in.size[j];
    out.spacing_mm[a] = in.spacing_mm[j];
    for (int p = 0; p < 3; ++p) out.direction[p][a] = m.flip[a] ? -in.direction[p][j] : in.direction[p][j];
  }
  // The new voxel (0,0,0) is the input voxel at the far end of every flipped axis.
  std::array<double, 3> first_index{0, 0, 0};
  for (int a = 0; a < 3; ++a)
    if (m.flip[a]) first_index[m.input_axis[a]] = static_cast<double>(in.size[m.input_axis[a]] - 1);
  for (int p = 0; p < 3; ++p) {
    double pos = in.origin_lps[p];
    for (int j = 0; j < 3; ++j) pos += in.direction[p][j] * in.spacing_mm[j] * first_index[j];
    out.origin_lps[p] = pos;
  }
  out.voxels.resize(in.voxels.size());
  // Input stride of each output axis, signed by the flip: a single pointer walk.
  const std::array<int64_t, 3> in_stride{1, in.size[0], in.size[0] * in.size[1]};
  std::array<int64_t, 3> step{};
  int64_t start = 0;
  for (int a = 0; a < 3; ++a) {
    const int64_t s = in_stride[m.input_axis[a]];
    step[a] = m.flip[a] ? -s : s;
    if (m.flip[a]) start += s * (in.size[m.input_axis[a]] - 1);
  }
  int64_t o = 0;
  for (int64_t k = 0; k < out.size[2]; ++k)
    for (int64_t j = 0; j < out.size[1]; ++j) {
      int64_t src = start + k * step[2] + j * step[1];
      for (int64_t i = 0; i < out.size[0]; ++i, src += step[0]) out.voxels[o++] = in.voxels[src];
    }
  return out;
}

template Volume<float> apply_mapping(const Volume<float>&, const AxisMapping&);
template Volume<uint8_t> apply_mapping(const Volume<uint8_t>&, const AxisMapping&);
template Volume<int16_t> apply_mapping(const Volume<int16_t>&, const AxisMapping&);
template Volume<uint16_t> apply_mapping(const Volume<uint16_t>&, const AxisMapping&);

Matrix3 signed_permutation(const std::array<int, 3>& patient_axis_of_index_axis, const std::array<int, 3>& signs) {
  Matrix3 d{};
  for (int j = 0; j < 3; ++j) d[patient_axis_of_index_axis[j]][j] = signs[j] >= 0 ? 1.0 : -1.0;
  return d;
}

}  // namespace spinescan
