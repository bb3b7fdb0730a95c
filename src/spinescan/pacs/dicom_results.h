#pragma once
// Results written back into the source study as DICOM, for PACS viewers: a Segmentation (one
// segment per vertebra), a Comprehensive SR holding a TID 1500 measurement report (one
// measurement group per vertebra) and Secondary Captures of the report's key slices with the
// boxes and labels burned in. Each is a new series in the source study (same
// StudyInstanceUID, patient and frame of reference) and names spinescan, its version and the
// model in its ContributingEquipmentSequence. Written with DCMTK (dcmseg, dcmsr, dcmdata).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/pipeline/analyze.h"

namespace spinescan::pacs {

struct DicomResultFiles {
  std::filesystem::path segmentation;            // seg.dcm
  std::filesystem::path structured_report;       // sr.dcm
  std::vector<std::filesystem::path> captures;   // sc_1.dcm, sc_2.dcm, ... one per key slice
  std::string report_sop_instance_uid;           // the SR's (a PACS worker stores it last: its presence means all are stored)
};

// Series numbers of what is written, far above what scanners give their own series.
inline constexpr int kSegmentationSeriesNumber = 9101, kReportSeriesNumber = 9102, kCaptureSeriesNumber = 9103;

// Writes the three series into `folder` (created, or replaced whole; nothing half-written).
// `model` is Analyzer::model_description(). Throws DataError when the analysis did not come
// from a DICOM series (DICOM out needs the source's UIDs and geometry), when the study was
// refused, or when a source file cannot be read back. `uid_seed` empty: new UIDs; otherwise
// every UID derives from it (io/dicom_uid.h), so the same results get the same UIDs.
DicomResultFiles write_dicom_results(const pipeline::StudyAnalysis& analysis, const nlohmann::json& model,
                                     const std::filesystem::path& folder, const std::string& uid_seed = "");

// SNOMED CT code of a level name (CID 7603 for C1..L5; S1 and the sacrum outside it), or
// empty when there is none (an unnamed body, L6).
struct Code {
  std::string value, scheme, meaning;
};
Code level_code(const std::string& level);

}  // namespace spinescan::pacs
