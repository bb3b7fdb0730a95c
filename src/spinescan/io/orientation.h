#pragma once
// Reorientation by axis permutation and flips: any acquisition direction to the canonical
// sagittal layout (see volume.h) and back. Pure index arithmetic, no resampling: an oblique
// input is mapped to its nearest patient axes and its obliquity reported.
#include <string>

#include "spinescan/io/volume.h"

namespace spinescan {

// For each output axis a: the input axis that maps to it and whether it is reversed.
struct AxisMapping {
  std::array<int, 3> input_axis{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
};

// The mapping that brings `direction` as close as possible to `target` (both with one
// dominant patient axis per column). Throws DataError when the direction is degenerate
// (two index axes along the same patient axis).
AxisMapping mapping_to(const Matrix3& direction, const Matrix3& target);

// Letters the index axes point toward: identity -> "LPS".
std::string orientation_code(const Matrix3& direction);
// Largest angle (degrees) between an index axis and the patient axis nearest to it.
double obliquity_degrees(const Matrix3& direction);
// "sagittal", "coronal" or "axial" for the plane normal to the most coarsely spaced axis,
// or "isotropic" when the spacings differ by less than 10 %.
std::string acquisition_plane(const Matrix3& direction, const std::array<double, 3>& spacing_mm);

// Applies the mapping: output voxel data, size, spacing, origin and direction are permuted
// and flipped consistently, so every voxel keeps its physical position.
template <class T>
Volume<T> apply_mapping(const Volume<T>& in, const AxisMapping& m);

template <class T>
Volume<T> reorient(const Volume<T>& in, const Matrix3& target) {
  return apply_mapping(in, mapping_to(in.direction, target));
}
template <class T>
Volume<T> to_canonical(const Volume<T>& in) {
  return reorient(in, kCanonicalDirection);
}

// A signed permutation matrix from a permutation and per-axis signs (for tests and phantoms).
Matrix3 signed_permutation(const std::array<int, 3>& patient_axis_of_index_axis, const std::array<int, 3>& signs);

}  // namespace spinescan
