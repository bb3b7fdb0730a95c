#include "spinescan/pacs/dicom_results.h"

#include <dcmtk/config/osconfig.h>  // first, as DCMTK requires

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/iodreferences.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <dcmtk/oflog/oflog.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/version.h"
#include "spinescan/io/dicom_uid.h"
#include "spinescan/pipeline/report.h"

namespace fs = std::filesystem;

namespace spinescan::pacs {
namespace {

// Our own concepts where DICOM and SNOMED CT have none (a model's probability, its verdict
// rule, the level-naming confidence). Private designators start with "99" (PS3.16 8.2).
constexpr const char* kScheme = "99SPINESCAN";
const DSRCodedEntryValue kProbabilityConcept("p-pathology", kScheme, "Probability of pathology");
const DSRCodedEntryValue kLevelConfidenceConcept("level-conf", kScheme, "Level name confidence");
const DSRCodedEntryValue kVerdictConcept("verdict", kScheme, "Verdict at the model's threshold");
const DSRCodedEntryValue kNoteConcept("note", kScheme, "Note");
const DSRCodedEntryValue kAbnormal("263654008", "SCT", "Abnormal");
const DSRCodedEntryValue kNormal("17621005", "SCT", "Normal");
const DSRCodedEntryValue kNoUnits("1", "UCUM", "no units");

void check(const OFCondition& c, const std::string& what) {
  if (c.bad()) throw Error("DICOM out: " + what + ": " + c.text());
}

// DCMTK logs through its own logger to stderr; its failures reach the user as our errors.
void quiet_dcmtk() {
  static const bool configured = [] {
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    return true;
  }();
  (void)configured;
  SPINESCAN_CHECK_AS(dcmDataDict.isDictionaryLoaded(), Error,
                     "DICOM out: DCMTK's data dictionary is not loaded (is libdcmtk installed, or DCMDICTPATH wrong?)");
}

// New UIDs, or, with a seed, the same UIDs each time the same results are written.
struct UidSource {
  std::string seed;
  std::string operator()(const std::string& role) const { return seed.empty() ? make_dicom_uid() : dicom_uid_from(seed + "|" + role); }
};

std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

std::string decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

struct SourceFrame {
  std::string sop_class_uid, sop_instance_uid;
  std::array<double, 3> position{};     // ImagePositionPatient, mm
  std::array<double, 6> orientation{};  // ImageOrientationPatient: row direction, column direction
  double row_spacing_mm = 0, column_spacing_mm = 0;
  int rows = 0, columns = 0;
  std::string position_text;
};

// The source series' headers (pixel data not read): UIDs and geometry of every frame, and
// the first file's dataset for the patient, study and frame of reference.
struct SourceSeries {
  std::vector<SourceFrame> frames;
  DcmFileFormat first;
  std::vector<std::unique_ptr<DcmFileFormat>> headers;
  std::string study_uid, series_uid, patient_id, orientation_text, pixel_spacing_text, slice_thickness_text;
};

SourceSeries read_source(const std::vector<std::string>& files) {
  SPINESCAN_CHECK(!files.empty(), "DICOM out needs a DICOM series as input");
  SourceSeries s;
  for (size_t i = 0; i < files.size(); ++i) {
    auto header = std::make_unique<DcmFileFormat>();
    const OFCondition c = header->loadFileUntilTag(files[i].c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                                   ERM_autoDetect, DCM_PixelData);
    SPINESCAN_CHECK(c.good(), "DICOM out: cannot read back source image ", i + 1, " of the series: ", c.text());
    DcmDataset& d = *header->getDataset();
    SourceFrame f;
    f.sop_class_uid = text(d, DCM_SOPClassUID);
    f.sop_instance_uid = text(d, DCM_SOPInstanceUID);
    Uint16 rows = 0, columns = 0;
    d.findAndGetUint16(DCM_Rows, rows);
    d.findAndGetUint16(DCM_Columns, columns);
    f.rows = rows, f.columns = columns;
    bool geometry = true;
    for (unsigned long k = 0; k < 3; ++k) geometry &= d.findAndGetFloat64(DCM_ImagePositionPatient, f.position[k], k).good();
    for (unsigned long k = 0; k < 6; ++k) geometry &= d.findAndGetFloat64(DCM_ImageOrientationPatient, f.orientation[k], k).good();
    geometry &= d.findAndGetFloat64(DCM_PixelSpacing, f.row_spacing_mm, 0).good();
    geometry &= d.findAndGetFloat64(DCM_PixelSpacing, f.column_spacing_mm, 1).good();
    SPINESCAN_CHECK(geometry && f.rows > 0 && f.columns > 0 && !f.sop_instance_uid.empty() && !f.sop_class_uid.empty(),
                    "DICOM out: source image ", i + 1, " lacks its UIDs, size, position, orientation or pixel spacing");
    f.position_text = text(d, DCM_ImagePositionPatient);
    if (i == 0) {
      s.study_uid = text(d, DCM_StudyInstanceUID);
      s.series_uid = text(d, DCM_SeriesInstanceUID);
      s.patient_id = text(d, DCM_PatientID);
      s.orientation_text = text(d, DCM_ImageOrientationPatient);
      s.pixel_spacing_text = text(d, DCM_PixelSpacing);
      s.slice_thickness_text = text(d, DCM_SliceThickness);
      SPINESCAN_CHECK(!s.study_uid.empty() && !s.series_uid.empty(), "DICOM out: the source series has no study or series UID");
    } else {
      const SourceFrame& f0 = s.frames.front();
      bool same = f.rows == f0.rows && f.columns == f0.columns && std::abs(f.row_spacing_mm - f0.row_spacing_mm) < 1e-4 &&
                  std::abs(f.column_spacing_mm - f0.column_spacing_mm) < 1e-4;
      for (int k = 0; k < 6; ++k) same &= std::abs(f.orientation[k] - f0.orientation[k]) < 1e-4;
      // One orientation and pixel grid for every frame: the SEG shares them across frames.
      SPINESCAN_CHECK(same, "DICOM out: the source images differ in size, orientation or pixel spacing");
    }
    s.frames.push_back(f);
    s.headers.push_back(std::move(header));
  }
  return s;
}

// Where a source pixel lies in the canonical volume the models saw: continuous voxel index
// (column, row, slice), linear in the pixel's (column, row).
struct FrameToCanonical {
  std::array<double, 3> at_origin{}, per_column{}, per_row{};
  std::array<double, 3> at(int column, int row) const {
    return {at_origin[0] + column * per_column[0] + row * per_row[0], at_origin[1] + column * per_column[1] + row * per_row[1],
            at_origin[2] + column * per_column[2] + row * per_row[2]};
  }
};

FrameToCanonical frame_to_canonical(const SourceFrame& f, const Volume<float>& canonical) {
  FrameToCanonical m;
  for (int j = 0; j < 3; ++j) {
    double origin = 0, along_row = 0, along_column = 0;
    for (int p = 0; p < 3; ++p) {
      const double axis = canonical.direction[p][j];  // column j of the direction matrix
      origin += axis * (f.position[p] - canonical.origin_lps[p]);
      along_row += axis * f.orientation[p];           // one column step moves along the row direction
      along_column += axis * f.orientation[3 + p];    // one row step moves along the column direction
    }
    m.at_origin[j] = origin / canonical.spacing_mm[j];
    m.per_column[j] = along_row * f.column_spacing_mm / canonical.spacing_mm[j];
    m.per_row[j] = along_column * f.row_spacing_mm / canonical.spacing_mm[j];
  }
  return m;
}

// The vertebra's mask on one source frame: the pixels whose centre falls in its box on the
// canonical slice through them (boxes are in pixel-edge coordinates: pixel i spans [i, i+1)).
std::vector<Uint8> mask_on_frame(const aggregate::Track& track, const SourceFrame& f, const FrameToCanonical& m,
                                 int num_slices, size_t* set_pixels) {
  std::vector<Uint8> mask(static_cast<size_t>(f.rows) * f.columns, 0);
  *set_pixels = 0;
  for (int r = 0; r < f.rows; ++r)
    for (int c = 0; c < f.columns; ++c) {
      const auto k = m.at(c, r);
      const long slice = std::lround(k[2]);
      if (slice < 0 || slice >= num_slices) continue;
      const aggregate::TrackedBox* b = track.on_slice(static_cast<int>(slice));
      if (!b) continue;
      const double x = k[0] + 0.5, y = k[1] + 0.5;
      if (x >= b->box.x1 && x < b->box.x2 && y >= b->box.y1 && y < b->box.y2) {
        mask[static_cast<size_t>(r) * f.columns + c] = 1;
        ++*set_pixels;
      }
    }
  return mask;
}

std::string label_of(const pipeline::VertebraFinding& v, size_t index) {
  return v.level.empty() ? "vertebra " + std::to_string(index + 1) : v.level;
}

std::string model_name(const nlohmann::json& model) {
  std::string name = model.value("name", std::string("spinescan model"));
  return name.size() > 64 ? name.substr(0, 64) : name;  // LO
}

std::string software_versions() { return std::string("spinescan ") + version() + " (" + git_revision() + ")"; }

std::string now(const char* format) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// ContributingEquipmentSequence (SOP Common): which program made this object, and how.
void add_contributing_equipment(DcmItem& dataset, const nlohmann::json& model) {
  DcmItem* item = nullptr;
  check(dataset.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, item, -2), "contributing equipment");
  item->putAndInsertString(DCM_Manufacturer, "spinescan");
  item->putAndInsertString(DCM_ManufacturerModelName, model_name(model).c_str());
  item->putAndInsertString(DCM_SoftwareVersions, software_versions().c_str());
  item->putAndInsertString(DCM_ContributionDateTime, now("%Y%m%d%H%M%S").c_str());
  item->putAndInsertString(DCM_ContributionDescription, "vertebrae found, named and judged automatically");
  DcmItem* purpose = nullptr;
  check(item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2), "contributing equipment purpose");
  purpose->putAndInsertString(DCM_CodeValue, "109102");
  purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
  purpose->putAndInsertString(DCM_CodeMeaning, "Processing Equipment");
}

// PS3.5 8.1.1: one bit per pixel, the first pixel in the least significant bit, frames
// following each other without padding (a frame may start inside a byte); the element is
// padded to even length. DCMTK 3.6.7 misplaces the frames when a frame's pixel count is not
// a multiple of 8 (each later frame lands further off), so the bits are packed here.
std::vector<Uint8> pack_binary_frames(const std::vector<std::vector<Uint8>>& frames) {
  size_t num_bits = 0;
  for (const auto& f : frames) num_bits += f.size();
  std::vector<Uint8> packed((num_bits + 7) / 8 + ((num_bits + 7) / 8) % 2, 0);
  size_t bit = 0;
  for (const auto& f : frames)
    for (const Uint8 pixel : f) {
      if (pixel) packed[bit / 8] |= static_cast<Uint8>(1u << (bit % 8));
      ++bit;
    }
  return packed;
}

void save(DcmFileFormat& file, const fs::path& path) {
  check(file.saveFile(path.c_str(), EXS_LittleEndianExplicit), "cannot write " + path.filename().string());
}

struct SegmentationResult {
  DcmFileFormat file;
  std::vector<Uint16> segment_of_vertebra;   // 0 = not in the SEG (no pixel on any source frame)
  std::vector<std::string> tracking_uid_of_vertebra;
};

void write_segmentation(const pipeline::StudyAnalysis& a, SourceSeries& source, const nlohmann::json& model,
                        const UidSource& uids, const fs::path& path, SegmentationResult& out) {
  const SourceFrame& f0 = source.frames.front();
  DcmSegmentation* created = nullptr;
  check(DcmSegmentation::createBinarySegmentation(
            created, static_cast<Uint16>(f0.rows), static_cast<Uint16>(f0.columns),
            IODGeneralEquipmentModule::EquipmentInfo("spinescan", model_name(model).c_str(), "0", software_versions().c_str()),
            ContentIdentificationMacro("1", "VERTEBRAE", "vertebral bodies (detector boxes)", "spinescan^software")),
        "segmentation");
  std::unique_ptr<DcmSegmentation> seg(created);
  check(seg->importFromSourceImage(*source.headers.front()->getDataset()), "patient and study of the source");
  check(seg->getSeries().setSeriesInstanceUID(uids("seg-series").c_str()), "series UID");
  check(seg->getSeries().setSeriesNumber(std::to_string(kSegmentationSeriesNumber).c_str()), "series number");
  check(seg->getSeries().setSeriesDescription("spinescan vertebrae"), "series description");
  check(seg->getSOPCommon().setSOPInstanceUID(uids("seg").c_str()), "SOP instance UID");

  FGPixelMeasures measures;
  check(measures.setPixelSpacing(source.pixel_spacing_text.c_str()), "pixel spacing");
  const std::string thickness = source.slice_thickness_text.empty() ? decimal(a.info.spacing_mm[2]) : source.slice_thickness_text;
  check(measures.setSliceThickness(thickness.c_str()), "slice thickness");
  check(seg->addForAllFrames(measures), "pixel measures");
  FGPlaneOrientationPatient orientation;
  std::array<std::string, 6> o;
  for (int k = 0; k < 6; ++k) o[k] = decimal(f0.orientation[k]);
  check(orientation.setImageOrientationPatient(o[0].c_str(), o[1].c_str(), o[2].c_str(), o[3].c_str(), o[4].c_str(), o[5].c_str()),
        "orientation");
  check(seg->addForAllFrames(orientation), "plane orientation");

  const std::string organisation = uids("dimension-organisation");
  auto& dims = seg->getDimensions();
  check(dims.addDimensionIndex(DCM_ReferencedSegmentNumber, organisation.c_str(), DCM_SegmentIdentificationSequence,
                               "ReferencedSegmentNumber"),
        "segment dimension");
  check(dims.addDimensionIndex(DCM_ImagePositionPatient, organisation.c_str(), DCM_PlanePositionSequence, "ImagePositionPatient"),
        "position dimension");
  auto* org_item = new IODMultiframeDimensionModule::DimensionOrganizationItem;
  org_item->setDimensionOrganizationUID(organisation.c_str());
  dims.getDimensionOrganizationSequence().push_back(org_item);

  std::vector<FrameToCanonical> mapping;
  for (const auto& f : source.frames) mapping.push_back(frame_to_canonical(f, a.normalized));
  const int num_slices = static_cast<int>(a.normalized.size[2]);
  out.segment_of_vertebra.assign(a.vertebrae.size(), 0);
  out.tracking_uid_of_vertebra.assign(a.vertebrae.size(), "");
  IODReferences references;
  std::vector<bool> referenced(source.frames.size(), false);
  std::vector<std::vector<Uint8>> frames_in_order;  // as added: the order of the per-frame groups
  for (size_t v = 0; v < a.vertebrae.size(); ++v) {
    const auto& vertebra = a.vertebrae[v];
    std::vector<std::pair<size_t, std::vector<Uint8>>> frames;
    for (size_t i = 0; i < source.frames.size(); ++i) {
      size_t set = 0;
      auto mask = mask_on_frame(vertebra.track, source.frames[i], mapping[i], num_slices, &set);
      if (set) frames.emplace_back(i, std::move(mask));
    }
    if (frames.empty()) continue;
    const Code code = level_code(vertebra.level);
    const std::string label = label_of(vertebra, v);
    DcmSegment* segment = nullptr;
    check(DcmSegment::create(segment, label.c_str(), CodeSequenceMacro("123037004", "SCT", "Anatomical Structure"),
                             code.value.empty() ? CodeSequenceMacro("vertebra", kScheme, "Vertebral body, level not named")
                                                : CodeSequenceMacro(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str()),
                             DcmSegTypes::SAT_AUTOMATIC, "spinescan"),
          "segment " + label);
    segment->setSegmentDescription("box around the body on each sagittal slice (no body mask)");
    const std::string tracking_uid = uids("tracking-" + label);
    segment->setTrackingID(label.c_str());
    segment->setTrackingUID(tracking_uid.c_str());
    Uint16 number = 0;
    check(seg->addSegment(segment, number), "segment " + label);
    out.segment_of_vertebra[v] = number;
    out.tracking_uid_of_vertebra[v] = tracking_uid;
    for (auto& [i, mask] : frames) {
      const SourceFrame& f = source.frames[i];
      FGPlanePosPatient position;
      check(position.setImagePositionPatient(decimal(f.position[0]).c_str(), decimal(f.position[1]).c_str(),
                                             decimal(f.position[2]).c_str()),
            "frame position");
      FGFrameContent content;
      check(content.setDimensionIndexValues(number, 0), "frame segment index");
      check(content.setDimensionIndexValues(static_cast<Uint32>(i + 1), 1), "frame position index");
      OFVector<ImageSOPInstanceReferenceMacro> derived_from(1);
      check(derived_from[0].setReferencedSOPClassUID(f.sop_class_uid.c_str()), "source class");
      check(derived_from[0].setReferencedSOPInstanceUID(f.sop_instance_uid.c_str()), "source instance");
      std::unique_ptr<FGDerivationImage> derivation(
          DcmSegmentation::createDerivationImageFG(derived_from, "boxes of spinescan's vertebra detector"));
      SPINESCAN_CHECK_AS(derivation != nullptr, Error, "DICOM out: derivation image of frame ", i + 1);
      OFVector<FGBase*> per_frame;
      per_frame.push_back(&position);
      per_frame.push_back(&content);
      per_frame.push_back(derivation.get());
      check(seg->addFrame(mask.data(), number, per_frame), "frame of " + label);
      frames_in_order.push_back(std::move(mask));
      if (!referenced[i]) {
        referenced[i] = true;
        references.add(new IODImageReference(source.patient_id.c_str(), source.study_uid.c_str(), source.series_uid.c_str(),
                                             f.sop_instance_uid.c_str(), f.sop_class_uid.c_str()));
      }
    }
  }
  SPINESCAN_CHECK(references.size() > 0, "DICOM out: no vertebra's box falls on a source image; nothing to write");
  // ReferencedSeriesSequence: viewers such as OHIF will not show a SEG without it.
  seg->getCommonInstanceReference().addReferences(references, source.study_uid.c_str());
  check(seg->writeDataset(*out.file.getDataset()), "segmentation dataset");
  const auto packed = pack_binary_frames(frames_in_order);
  check(out.file.getDataset()->putAndInsertUint8Array(DCM_PixelData, packed.data(), static_cast<unsigned long>(packed.size())),
        "segmentation pixels");
  add_contributing_equipment(*out.file.getDataset(), model);
  save(out.file, path);
}

// Returns the report's SOP instance UID.
std::string write_report(const pipeline::StudyAnalysis& a, SourceSeries& source, SegmentationResult& seg, const nlohmann::json& model,
                         const UidSource& uids, const fs::path& path) {
  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  check(report.setLanguage(CID5000_Languages::English), "language");
  check(report.getObservationContext().addDeviceObserver(uids("observer").c_str(), "spinescan", "spinescan",
                                                         model_name(model).c_str()),
        "observer");
  check(report.addProcedureReported(CMR_CID100::MRIUnspecifiedBodyRegion), "procedure");
  // TID 1500 holds an image library (TID 1600) that DCMTK leaves to be created.
  if (!report.getImageLibrary().isValid()) check(report.getImageLibrary().createNewImageLibrary(), "image library");
  check(report.getImageLibrary().addImageGroup(), "image library group");
  for (auto& header : source.headers) check(report.getImageLibrary().addImageEntry(*header->getDataset(), TID1600_ImageLibrary::withoutDescriptors), "image library entry");

  DcmDataset& seg_dataset = *seg.file.getDataset();
  const std::string threshold = decimal(a.threshold);
  for (size_t v = 0; v < a.vertebrae.size(); ++v) {
    if (!seg.segment_of_vertebra[v]) continue;
    const auto& vertebra = a.vertebrae[v];
    check(report.addVolumetricROIMeasurements(), "measurement group");
    auto& group = report.getVolumetricROIMeasurements();
    const std::string label = label_of(vertebra, v);
    check(group.setTrackingIdentifier(label.c_str()), "tracking identifier");
    check(group.setTrackingUniqueIdentifier(seg.tracking_uid_of_vertebra[v].c_str()), "tracking UID");
    check(group.setReferencedSegment(seg_dataset, seg.segment_of_vertebra[v], OFFalse), "referenced segment");
    check(group.setSourceSeriesForSegmentation(source.series_uid.c_str()), "source series");
    const Code code = level_code(vertebra.level);
    if (!code.value.empty())
      check(group.addFindingSite(DSRCodedEntryValue(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str())), "finding site");
    using Value = CMR_TID1411_in_TID1500::MeasurementValue;
    check(group.addMeasurement(DSRCodedEntryValue(kLevelConfidenceConcept), Value(decimal(vertebra.level_confidence).c_str(), kNoUnits),
                               OFFalse),
          "level confidence");
    if (vertebra.probability >= 0) {
      check(group.addMeasurement(DSRCodedEntryValue(kProbabilityConcept), Value(decimal(vertebra.probability).c_str(), kNoUnits),
                                 OFFalse),
            "probability");
      check(group.addQualitativeEvaluation(kVerdictConcept, vertebra.pathological ? kAbnormal : kNormal), "verdict");
    } else {
      check(group.addQualitativeEvaluation(kNoteConcept, a.verdicts_withheld
                                                             ? "no verdict: the study is unlike the model's training studies"
                                                             : "no verdict: the model bundle has no classifier"),
            "no verdict");
    }
    check(group.addQualitativeEvaluation(kNoteConcept, ("level confidence " + decimal(vertebra.level_confidence) +
                                                        "; verdict threshold " + threshold)
                                                           .c_str()),
          "level note");
  }
  for (const auto& w : a.warnings) check(report.addQualitativeEvaluation(kNoteConcept, w.c_str()), "warning");
  check(report.addQualitativeEvaluation(kNoteConcept, "Automatic result of spinescan; boxes, not body outlines. Check every finding."),
        "disclaimer");
  SPINESCAN_CHECK_AS(report.isValid(), Error, "DICOM out: the TID 1500 report is incomplete");

  DSRDocument doc;
  check(doc.setTreeFromRootTemplate(report, OFTrue), "report tree");
  // Comprehensive SR (TID 1500 fits Enhanced SR too): the class PACS viewers such as
  // Orthanc's look for.
  check(doc.changeDocumentType(DSRTypes::DT_ComprehensiveSR), "Comprehensive SR");
  check(doc.readStudyData(*source.headers.front()->getDataset()), "patient and study of the source");
  check(doc.createNewSeriesInStudy(source.study_uid.c_str()), "series");
  check(doc.setSeriesNumber(std::to_string(kReportSeriesNumber).c_str()), "series number");
  check(doc.setSeriesDescription("spinescan findings"), "series description");
  check(doc.setManufacturer("spinescan"), "manufacturer");
  check(doc.setManufacturerModelName(model_name(model).c_str()), "model name");
  check(doc.setSoftwareVersions(software_versions().c_str()), "software versions");
  check(doc.setInstanceNumber("1"), "instance number");
  check(doc.getCodingSchemeIdentification().addItem(kScheme), "coding scheme");
  doc.getCodingSchemeIdentification().setCodingSchemeName("spinescan's own concepts");
  for (const auto& f : source.frames)
    check(doc.getCurrentRequestedProcedureEvidence().addItem(source.study_uid.c_str(), source.series_uid.c_str(),
                                                              f.sop_class_uid.c_str(), f.sop_instance_uid.c_str()),
          "evidence");
  check(doc.getCurrentRequestedProcedureEvidence().addItem(seg_dataset), "evidence (segmentation)");
  check(doc.completeDocument(), "completion");
  DcmFileFormat file;
  check(doc.write(*file.getDataset()), "report dataset");
  // Our UIDs in place of the ones DCMTK made (nothing else refers to them).
  const std::string instance = uids("sr");
  check(file.getDataset()->putAndInsertString(DCM_SeriesInstanceUID, uids("sr-series").c_str()), "report series UID");
  check(file.getDataset()->putAndInsertString(DCM_SOPInstanceUID, instance.c_str()), "report instance UID");
  add_contributing_equipment(*file.getDataset(), model);
  save(file, path);
  return instance;
}

// The source frame through a canonical slice (the one whose centre maps closest to it).
size_t frame_through(int slice, const SourceSeries& source, const Volume<float>& canonical) {
  size_t best = 0;
  double best_distance = 1e300;
  for (size_t i = 0; i < source.frames.size(); ++i) {
    const auto& f = source.frames[i];
    const double d = std::abs(frame_to_canonical(f, canonical).at(f.columns / 2, f.rows / 2)[2] - slice);
    if (d < best_distance) best_distance = d, best = i;
  }
  return best;
}

void write_capture(const pipeline::StudyAnalysis& a, const SourceSeries& source, int slice, int instance,
                   const UidSource& uids, const nlohmann::json& model, const fs::path& path) {
  const RgbImage image = pipeline::render_labelled_slice(a, slice);
  DcmFileFormat file;
  DcmDataset& d = *file.getDataset();
  DcmDataset& src = *source.headers.front()->getDataset();
  // Patient and study as the source has them: the capture belongs to the same study.
  for (const DcmTagKey& tag : {DCM_SpecificCharacterSet, DCM_PatientName, DCM_PatientID, DCM_IssuerOfPatientID, DCM_PatientBirthDate,
                               DCM_PatientSex, DCM_StudyInstanceUID, DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName,
                               DCM_StudyID, DCM_AccessionNumber, DCM_StudyDescription})
    src.findAndInsertCopyOfElement(tag, &d);
  // Type 2 attributes: present, empty when the source lacks them.
  for (const DcmTagKey& tag : {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate, DCM_StudyTime,
                               DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber})
    if (!d.tagExists(tag)) d.insertEmptyElement(tag);
  const std::string date = now("%Y%m%d"), time = now("%H%M%S");
  d.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  d.putAndInsertString(DCM_SOPInstanceUID, uids("sc-" + std::to_string(instance)).c_str());
  d.putAndInsertString(DCM_Modality, "OT");
  d.putAndInsertString(DCM_SeriesInstanceUID, uids("sc-series").c_str());
  d.putAndInsertString(DCM_SeriesNumber, std::to_string(kCaptureSeriesNumber).c_str());
  d.putAndInsertString(DCM_SeriesDescription, "spinescan key slices");
  // Laterality (type 2C) is for paired structures: with the body part named, it stays absent.
  if (!src.findAndInsertCopyOfElement(DCM_BodyPartExamined, &d).good() || text(d, DCM_BodyPartExamined).empty())
    d.putAndInsertString(DCM_BodyPartExamined, "LSPINE");
  d.putAndInsertString(DCM_Manufacturer, "spinescan");
  d.putAndInsertString(DCM_ConversionType, "WSD");
  d.putAndInsertString(DCM_InstanceNumber, std::to_string(instance).c_str());
  d.putAndInsertString(DCM_ImageType, "DERIVED\\SECONDARY");
  d.putAndInsertString(DCM_ContentDate, date.c_str());
  d.putAndInsertString(DCM_ContentTime, time.c_str());
  d.putAndInsertString(DCM_DateOfSecondaryCapture, date.c_str());
  d.putAndInsertString(DCM_TimeOfSecondaryCapture, time.c_str());
  // Displayed with anterior to the left and the head up: rows run toward the feet, columns
  // toward the back.
  d.putAndInsertString(DCM_PatientOrientation, "P\\F");
  d.putAndInsertString(DCM_BurnedInAnnotation, "YES");
  d.putAndInsertString(DCM_DerivationDescription, "sagittal slice with spinescan's boxes, level names and verdicts drawn in");
  const SourceFrame& f = source.frames[frame_through(slice, source, a.normalized)];
  DcmItem* ref = nullptr;
  check(d.findOrCreateSequenceItem(DCM_SourceImageSequence, ref, -2), "source image");
  ref->putAndInsertString(DCM_ReferencedSOPClassUID, f.sop_class_uid.c_str());
  ref->putAndInsertString(DCM_ReferencedSOPInstanceUID, f.sop_instance_uid.c_str());
  d.putAndInsertUint16(DCM_SamplesPerPixel, 3);
  d.putAndInsertString(DCM_PhotometricInterpretation, "RGB");
  d.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  d.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(image.height));
  d.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(image.width));
  d.putAndInsertUint16(DCM_BitsAllocated, 8);
  d.putAndInsertUint16(DCM_BitsStored, 8);
  d.putAndInsertUint16(DCM_HighBit, 7);
  d.putAndInsertUint16(DCM_PixelRepresentation, 0);
  check(d.putAndInsertUint8Array(DCM_PixelData, image.rgb.data(), static_cast<unsigned long>(image.rgb.size())), "pixels");
  add_contributing_equipment(d, model);
  save(file, path);
}

}  // namespace

Code level_code(const std::string& level) {
  // SNOMED CT concepts of CID 7603 (Vertebra) and, for S1, of the sacral vertebrae.
  static const std::vector<std::pair<std::string, Code>> codes = {
      {"C1", {"14806007", "SCT", "C1 vertebra"}},   {"C2", {"39976000", "SCT", "C2 vertebra"}},
      {"C3", {"113205007", "SCT", "C3 vertebra"}},  {"C4", {"5329002", "SCT", "C4 vertebra"}},
      {"C5", {"36978003", "SCT", "C5 vertebra"}},   {"C6", {"36054005", "SCT", "C6 vertebra"}},
      {"C7", {"87391001", "SCT", "C7 vertebra"}},   {"T1", {"64864005", "SCT", "T1 vertebra"}},
      {"T2", {"53733008", "SCT", "T2 vertebra"}},   {"T3", {"1626008", "SCT", "T3 vertebra"}},
      {"T4", {"73071006", "SCT", "T4 vertebra"}},   {"T5", {"56401006", "SCT", "T5 vertebra"}},
      {"T6", {"45296009", "SCT", "T6 vertebra"}},   {"T7", {"62487009", "SCT", "T7 vertebra"}},
      {"T8", {"11068009", "SCT", "T8 vertebra"}},   {"T9", {"82687006", "SCT", "T9 vertebra"}},
      {"T10", {"7610001", "SCT", "T10 vertebra"}},  {"T11", {"12989004", "SCT", "T11 vertebra"}},
      {"T12", {"23215003", "SCT", "T12 vertebra"}}, {"L1", {"66794005", "SCT", "L1 vertebra"}},
      {"L2", {"14293000", "SCT", "L2 vertebra"}},   {"L3", {"36470004", "SCT", "L3 vertebra"}},
      {"L4", {"11994002", "SCT", "L4 vertebra"}},   {"L5", {"49668003", "SCT", "L5 vertebra"}},
      {"S1", {"65985001", "SCT", "S1 vertebra"}},
  };
  for (const auto& [name, code] : codes)
    if (name == level) return code;
  return {};
}

DicomResultFiles write_dicom_results(const pipeline::StudyAnalysis& analysis, const nlohmann::json& model, const fs::path& folder,
                                     const std::string& uid_seed) {
  SPINESCAN_CHECK(analysis.info.format == "DICOM" && !analysis.info.dicom_files.empty(),
                  "DICOM out needs a DICOM series as input (this study is ", analysis.info.format, ")");
  SPINESCAN_CHECK(analysis.refusal.empty(), "DICOM out: the study was not analysed");
  SPINESCAN_CHECK(!analysis.vertebrae.empty(), "DICOM out: no vertebra was found; nothing to write");
  quiet_dcmtk();
  SourceSeries source = read_source(analysis.info.dicom_files);
  StagedDirectory staged(folder, /*overwrite=*/true);
  DicomResultFiles files;
  SegmentationResult seg;
  const UidSource uids{uid_seed};
  write_segmentation(analysis, source, model, uids, staged.path() / "seg.dcm", seg);
  files.report_sop_instance_uid = write_report(analysis, source, seg, model, uids, staged.path() / "sr.dcm");
  const auto slices = pipeline::key_slices(analysis);
  for (size_t i = 0; i < slices.size(); ++i)
    write_capture(analysis, source, slices[i], static_cast<int>(i + 1), uids, model,
                  staged.path() / ("sc_" + std::to_string(i + 1) + ".dcm"));
  staged.commit();
  files.segmentation = folder / "seg.dcm";
  files.structured_report = folder / "sr.dcm";
  for (size_t i = 0; i < slices.size(); ++i) files.captures.push_back(folder / ("sc_" + std::to_string(i + 1) + ".dcm"));
  return files;
}

}  // namespace spinescan::pacs
