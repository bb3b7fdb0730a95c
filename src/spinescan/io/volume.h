#pragma once
// A 3D image in memory, independent of ITK. Voxels are stored like ITK stores them:
// axis 0 fastest, index(i0, i1, i2) = i0 + size[0] * (i1 + size[1] * i2).
// Physical space is LPS (DICOM/ITK): +x toward the patient's Left, +y Posterior, +z Superior.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace spinescan {

using Matrix3 = std::array<std::array<double, 3>, 3>;  // [row][col]; column j = direction of index axis j

inline Matrix3 identity_matrix() { return {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}; }

template <class T>
struct Volume {
  std::array<int64_t, 3> size{0, 0, 0};
  std::array<double, 3> spacing_mm{1, 1, 1};
  std::array<double, 3> origin_lps{0, 0, 0};  // physical position of voxel (0, 0, 0), mm
  Matrix3 direction = identity_matrix();
  std::vector<T> voxels;

  int64_t num_voxels() const { return size[0] * size[1] * size[2]; }
  int64_t index(int64_t i0, int64_t i1, int64_t i2) const { return i0 + size[0] * (i1 + size[1] * i2); }
  T& at(int64_t i0, int64_t i1, int64_t i2) { return voxels[index(i0, i1, i2)]; }
  const T& at(int64_t i0, int64_t i1, int64_t i2) const { return voxels[index(i0, i1, i2)]; }

  // Same geometry, new voxel type, zero-filled.
  template <class U>
  Volume<U> like() const {
    Volume<U> out;
    out.size = size;
    out.spacing_mm = spacing_mm;
    out.origin_lps = origin_lps;
    out.direction = direction;
    out.voxels.assign(num_voxels(), U{});
    return out;
  }
};

// Canonical sagittal layout used everywhere after loading:
//   axis 0 = column: anterior -> posterior (+y),
//   axis 1 = row:    superior -> inferior  (-z),
//   axis 2 = slice:  patient left -> patient right (-x).
// So one sagittal slice is contiguous, displayed with superior up and anterior left, and
// at(col, row, slice) reads like an image (x = column, y = row).
// kCanonicalDirection has these three axes as its columns (a proper rotation, det = +1).
inline constexpr Matrix3 kCanonicalDirection = {{{0, 0, -1}, {1, 0, 0}, {0, -1, 0}}};

// What was read, for `spinescan info` and reports. Holds no patient identity.
struct StudyInfo {
  std::string path;
  std::string format;           // "NIfTI", "MetaImage", "NRRD", "DICOM"
  std::string pixel_type;       // as stored in the file, e.g. "uint8", "int16"
  std::array<int64_t, 3> size_voxels{0, 0, 0};
  std::array<double, 3> spacing_mm{0, 0, 0};
  std::array<double, 3> origin_lps{0, 0, 0};
  Matrix3 direction = identity_matrix();
  std::string orientation_code;  // letter each index axis points toward, e.g. "LPS"
  double obliquity_deg = 0;      // largest angle between an index axis and its nearest patient axis
  std::string acquisition_plane; // plane of the thickest-spaced axis: sagittal/coronal/axial/isotropic
  std::string series_uid;        // DICOM only (a technical identifier, not a patient identifier)
  std::string series_description;
  int num_series_in_folder = 0;  // DICOM only
  // DICOM only: the series' files in the order they were stacked (for results written back
  // into the study, pacs/dicom_results.h). Paths may name the patient: never printed.
  std::vector<std::string> dicom_files;
};

}  // namespace spinescan
