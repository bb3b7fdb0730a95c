#pragma once
// Writing volumes (NIfTI, MHA/MHD, NRRD by extension) and DICOM series, atomically.
#include <cstdint>
#include <filesystem>
#include <string>

#include "spinescan/io/volume.h"

namespace spinescan {

template <class T>
void write_volume(const Volume<T>& volume, const std::filesystem::path& path);

struct DicomSeriesOptions {
  std::string series_description = "T2 SAG spinescan phantom";
  double echo_time_ms = 100;     // written so readers can recognise a T2 series
  std::string series_uid;        // empty = generated
  std::string study_uid;         // empty = generated
  // Patient module. Anonymous by default; tests set them to check that nothing identifying
  // leaks into what spinescan prints or writes.
  std::string patient_name = "ANONYMOUS";
  std::string patient_id = "0";
  std::string patient_birth_date;  // YYYYMMDD, empty = not written
  std::string accession_number;    // empty = not written
  // Pixel data compression: "" (uncompressed), "jpeg2000" or "jpeg", both lossless (what ITK
  // 5.2's GDCM writer can do): readers' tests and fuzz seeds of compressed series.
  std::string compression;
  // Same volume and options, same bytes: the frame of reference and SOP instance UIDs derived
  // from series_uid (which must then be set, as study_uid must) and a fixed study date and
  // time (fuzz seeds).
  bool reproducible = false;
};

// One file per index-axis-2 slice ("slice_0000.dcm", ...) with position and orientation
// tags, into `folder` (created, or replaced atomically).
void write_dicom_series(const Volume<int16_t>& volume, const std::filesystem::path& folder,
                        const DicomSeriesOptions& options = {});

}  // namespace spinescan
