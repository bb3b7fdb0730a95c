#pragma once
// Truncation checks that ITK does not make: its NIfTI and MetaImage readers return a volume
// from a file cut short (the missing voxels are left as whatever memory held), and GDCM reads
// a DICOM file whose pixel data ends early. Each function throws DataError naming the file.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace spinescan {

// Single-file formats: the file must hold header + data_bytes. `format` is "NIfTI",
// "MetaImage" or "NRRD". A .nii.gz must decompress without error to header + data_bytes
// (zlib's readers as ITK uses them return a short stream without a word); so must the
// compressed data of a MetaImage (.mha, or an .mhd's data file) or a gzip-encoded .nrrd.
void check_file_complete(const std::filesystem::path& path, const std::string& format, uint64_t data_bytes);

// A NIfTI header (.nii, .nii.gz; NIfTI-1 or -2, either byte order) must have a valid size
// field, the single-file magic, 1 to 7 dimensions of at least one voxel, a known datatype with
// its bitpix, and finite spacing, scaling
// and orientation fields. ITK aborts the process (an SVD's finiteness assert) on a NaN
// orientation, and the NIfTI library prints its complaints on stderr.
void check_nifti_header(const std::filesystem::path& path);

// A NRRD header must start with the NRRD000 magic and be lines of at most 512 characters up to
// the blank line that ends it (within 64 KiB): teem overruns a stack buffer formatting its
// complaint about a longer field.
void check_nrrd_header(const std::filesystem::path& path);

// A MetaImage header (.mha, .mhd) must be "Name = value" lines of at most 255 characters with
// names of letters, digits and '_', NDims from 1 to 8, then DimSize of NDims sizes of at least
// 1, up to an ElementDataFile field (names as MetaIO matches them: case-sensitive) in its
// first 64 KiB. ITK's MetaIO copies names and values into fixed buffers without a bound and
// aborts the process (glibc's overflow check) on a longer one.
void check_metaimage_header(const std::filesystem::path& path);

// A DICOM file must be well formed before GDCM reads it (GDCM aborts the process on some
// malformed elements and allocates whatever length an element claims): the file meta group,
// then every data element of the data set in its transfer syntax, fits in the file; VRs are
// real ones; sequences, items and encapsulated pixel data are delimited and nested at most 16
// deep. Only Part 10 files (the "DICM" preamble) of MR, CT, secondary capture or DICOMDIR
// media storage are read: GDCM takes any other for a legacy ACR-NEMA file, a path on which it
// also aborts. Deflated transfer syntax is refused. A truncated pixel data element is refused.
// Returns what check_dicom_series_order needs of the file.
struct DicomFileFacts {
  bool image = false;           // false: a DICOMDIR
  std::string series_key;       // the series instance UID as GDCM groups by it ([.A-Za-z0-9] kept)
  bool has_geometry = false;    // image position and orientation (patient) both present
  std::array<double, 3> position{};
  std::array<double, 6> orientation{};
};
DicomFileFacts check_dicom_file_structure(const std::filesystem::path& path);

// The images of each series in a folder must be ordered by their positions: every one has an
// image position and orientation, all share the orientation, and no two lie within 1e-3 mm
// along its normal. GDCM otherwise falls back to sorting by instance number with a comparison
// that is no strict ordering on such files, and std::sort then reads past its array (a crash
// found by fuzzing); such a series is no single 3D volume anyway (repeated slices, echoes,
// time points).
void check_dicom_series_order(const std::filesystem::path& folder, const std::vector<DicomFileFacts>& files);

}  // namespace spinescan
