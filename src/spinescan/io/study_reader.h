#pragma once
// Reading studies and label volumes (the only place besides volume_writer.cpp that sees ITK).
// Accepted: a DICOM series folder, .nii/.nii.gz, .mha/.mhd, .nrrd/.nhdr.
#include <filesystem>
#include <string>
#include <vector>

#include "spinescan/io/volume.h"

namespace spinescan {

struct ReadOptions {
  // DICOM folders holding several series: the SeriesInstanceUID to read, or the series' number
  // (1, 2, ...) in the list a failed read gives. Empty = pick the sagittal T2 series, or fail
  // listing the candidates when that is ambiguous.
  std::string series_uid;
  // Messages name series by number, plane and size only; true adds their UIDs and
  // descriptions (which often carry identifying text).
  bool keep_identifiers = false;
};

// One series found in a DICOM folder (technical tags only; no patient identity is read).
struct DicomSeriesSummary {
  std::string uid;
  std::string description;
  std::string modality;
  std::string plane;  // from ImageOrientationPatient: sagittal/coronal/axial
  double echo_time_ms = 0;
  std::vector<std::string> files;  // the series' files in GDCM's slice order
};

// Native-orientation intensity volume as stored (float), with what was read.
Volume<float> read_volume(const std::filesystem::path& path, StudyInfo* info = nullptr,
                          const ReadOptions& options = {});
// Instance-label volume (integers 0..65535), native orientation.
Volume<uint16_t> read_label_volume(const std::filesystem::path& path, StudyInfo* info = nullptr);

// Lists the series of a DICOM folder. Throws DataError when the folder has none.
std::vector<DicomSeriesSummary> list_dicom_series(const std::filesystem::path& folder);

// A study in the canonical sagittal layout (volume.h), after checks that make every later
// stage safe: 3D, at least 2 voxels along each axis, finite values, not constant.
struct LoadedStudy {
  StudyInfo info;
  Volume<float> canonical;
};
LoadedStudy load_study(const std::filesystem::path& path, const ReadOptions& options = {});

// The checks load_study makes on a native volume; throws DataError naming `path`.
void check_volume_content(const Volume<float>& native, const std::filesystem::path& path);

// Whether a DICOM series is T2-weighted, as far as its headers tell: "T2" in its description
// or an echo time of at least 60 ms (0 = unknown). Picks the series of a folder to read, and
// the series a PACS worker analyses.
bool looks_t2_weighted(const std::string& series_description, double echo_time_ms);

// "NIfTI", "MetaImage", "NRRD" or "DICOM" from the path; throws DataError otherwise.
std::string detect_format(const std::filesystem::path& path);

}  // namespace spinescan
