// `analyze --dicom-out`: SEG, TID 1500 Comprehensive SR and secondary captures written into
// the source study, checked with DICOM's own tools (dciodvfy from dicom3tools, dsrdump from
// DCMTK) and against the phantom's truth: each segment must lie on the body its level names.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "spinescan/pacs/dicom_results.h"
#include "test_util.h"

namespace {

using spinescan::testing::command_output;
using spinescan::testing::count_of;
using spinescan::testing::read_file;
using spinescan::testing::run_cli;
using spinescan::testing::TempDir;

bool have_tool(const std::string& name) { return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0; }

// dciodvfy's "Error - ..." lines (warnings are reported but not counted).
std::vector<std::string> dciodvfy_errors(const std::filesystem::path& file) {
  std::istringstream lines(command_output("dciodvfy " + file.string()));
  std::vector<std::string> errors;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Error", 0) == 0) errors.push_back(line);
  return errors;
}

std::string text(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  item.findAndGetOFStringArray(tag, v);
  return v.c_str();
}

DcmItem* first_item(DcmItem& item, const DcmTagKey& sequence) {
  DcmItem* out = nullptr;
  item.findAndGetSequenceItem(sequence, out, 0);
  return out;
}

// The bundled example as a DICOM series of a named patient (native orientation: file k holds
// slice k, pixel (row r, column c) is voxel (c, r, k)).
struct DicomExample {
  TempDir tmp;
  std::filesystem::path series;
  spinescan::Volume<uint16_t> labels;
  std::map<int, std::string> level_of_label;
  std::vector<std::string> sop_instance_uids;  // by file
  DicomExample() {
    const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
    const auto volume = spinescan::read_volume(src / "examples/phantom_study.nii.gz");
    const spinescan::Volume<int16_t> v = spinescan::testing::rounded_to_int16(volume);
    spinescan::DicomSeriesOptions o;
    o.patient_name = "Doe^Jane";
    o.patient_id = "MRN493817";
    o.study_uid = "1.2.826.0.1.3680043.10.543.1111111";
    o.series_uid = "1.2.826.0.1.3680043.10.543.2222222";
    series = tmp / "series";
    spinescan::write_dicom_series(v, series, o);
    labels = spinescan::read_label_volume(src / "examples/phantom_study_vertebrae.nii.gz");
    std::istringstream csv(read_file(src / "examples/phantom_study_vertebrae.csv"));
    std::string line;
    std::getline(csv, line);
    while (std::getline(csv, line)) {
      std::istringstream fields(line);
      std::string case_name, label, level;
      std::getline(fields, case_name, ','), std::getline(fields, label, ','), std::getline(fields, level, ',');
      level_of_label[std::stoi(label)] = level;
    }
    for (int64_t k = 0; k < v.size[2]; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "slice_%04lld.dcm", static_cast<long long>(k));
      DcmFileFormat f;
      EXPECT_TRUE(f.loadFile((series / name).c_str()).good());
      sop_instance_uids.push_back(text(*f.getDataset(), DCM_SOPInstanceUID));
    }
  }
};

TEST(DicomOut, SegSrAndCapturesGoIntoTheSourceStudyAndTheSegmentsLieOnTheirBodies) {
  DicomExample ex;
  const auto out = ex.tmp / "dicom";
  const auto r = run_cli("analyze " + ex.series.string() + " --out " + (ex.tmp / "report").string() + " --dicom-out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("DICOM SEG, SR and"), std::string::npos) << r.out;
  const auto report = nlohmann::json::parse(read_file(ex.tmp / "report/report.json"));
  const auto& vertebrae = report["vertebrae"];
  ASSERT_GE(vertebrae.size(), 5u);

  // --- SEG: patient and study of the source, one segment per vertebra, frames on the source.
  DcmFileFormat seg;
  ASSERT_TRUE(seg.loadFile((out / "seg.dcm").c_str()).good());
  DcmDataset& d = *seg.getDataset();
  EXPECT_EQ(text(d, DCM_SOPClassUID), UID_SegmentationStorage);
  EXPECT_EQ(text(d, DCM_StudyInstanceUID), "1.2.826.0.1.3680043.10.543.1111111");
  EXPECT_EQ(text(d, DCM_PatientID), "MRN493817");
  EXPECT_NE(text(d, DCM_SeriesInstanceUID), "1.2.826.0.1.3680043.10.543.2222222");
  DcmItem* referenced_series = first_item(d, DCM_ReferencedSeriesSequence);
  ASSERT_NE(referenced_series, nullptr) << "OHIF refuses a SEG without ReferencedSeriesSequence";
  EXPECT_EQ(text(*referenced_series, DCM_SeriesInstanceUID), "1.2.826.0.1.3680043.10.543.2222222");
  DcmItem* equipment = first_item(d, DCM_ContributingEquipmentSequence);
  ASSERT_NE(equipment, nullptr);
  EXPECT_EQ(text(*equipment, DCM_Manufacturer), "spinescan");
  EXPECT_NE(text(*equipment, DCM_SoftwareVersions).find("spinescan"), std::string::npos);

  std::map<int, std::string> label_of_segment, code_of_segment;
  for (unsigned long i = 0;; ++i) {
    DcmItem* s = nullptr;
    if (d.findAndGetSequenceItem(DCM_SegmentSequence, s, static_cast<int>(i)).bad()) break;
    Uint16 number = 0;
    s->findAndGetUint16(DCM_SegmentNumber, number);
    label_of_segment[number] = text(*s, DCM_SegmentLabel);
    if (DcmItem* type = first_item(*s, DCM_SegmentedPropertyTypeCodeSequence)) code_of_segment[number] = text(*type, DCM_CodeValue);
  }
  ASSERT_EQ(label_of_segment.size(), vertebrae.size());
  for (const auto& v : vertebrae) {
    const std::string level = v["level"];
    bool found = false;
    for (const auto& [number, label] : label_of_segment)
      if (label == level) {
        found = true;
        EXPECT_EQ(code_of_segment[number], spinescan::pacs::level_code(level).value) << level;
      }
    EXPECT_TRUE(found) << "no segment for " << level;
  }

  // Unpack each frame (1 bit per pixel, packed across frames) and read the truth under it.
  Uint16 rows = 0, columns = 0;
  d.findAndGetUint16(DCM_Rows, rows);
  d.findAndGetUint16(DCM_Columns, columns);
  EXPECT_EQ(rows, ex.labels.size[1]);
  EXPECT_EQ(columns, ex.labels.size[0]);
  const Uint8* bits = nullptr;
  unsigned long num_bytes = 0;
  ASSERT_TRUE(d.findAndGetUint8Array(DCM_PixelData, bits, &num_bytes).good());
  std::map<int, std::map<int, long>> truth_under_segment;  // segment -> truth label -> pixels
  const size_t per_frame = static_cast<size_t>(rows) * columns;
  std::set<std::string> sources;
  for (unsigned long f = 0;; ++f) {
    DcmItem* frame = nullptr;
    if (d.findAndGetSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, static_cast<int>(f)).bad()) break;
    DcmItem* derivation = first_item(*frame, DCM_DerivationImageSequence);
    ASSERT_NE(derivation, nullptr);
    DcmItem* source = first_item(*derivation, DCM_SourceImageSequence);
    ASSERT_NE(source, nullptr);
    const std::string uid = text(*source, DCM_ReferencedSOPInstanceUID);
    sources.insert(uid);
    const auto at = std::find(ex.sop_instance_uids.begin(), ex.sop_instance_uids.end(), uid);
    ASSERT_NE(at, ex.sop_instance_uids.end()) << "frame " << f + 1 << " names no source image";
    const int64_t k = at - ex.sop_instance_uids.begin();
    Uint16 segment = 0;
    DcmItem* identification = first_item(*frame, DCM_SegmentIdentificationSequence);
    ASSERT_NE(identification, nullptr);
    identification->findAndGetUint16(DCM_ReferencedSegmentNumber, segment);
    for (size_t p = 0; p < per_frame; ++p) {
      const size_t bit = f * per_frame + p;
      ASSERT_LT(bit / 8, num_bytes);
      if ((bits[bit / 8] >> (bit % 8)) & 1)
        ++truth_under_segment[segment][ex.labels.at(static_cast<int64_t>(p % columns), static_cast<int64_t>(p / columns), k)];
    }
  }
  EXPECT_GE(sources.size(), 3u);
  for (const auto& [segment, counts] : truth_under_segment) {
    long total = 0, best = 0;
    int best_label = 0;
    for (const auto& [label, n] : counts) {
      total += n;
      if (label != 0 && n > best) best = n, best_label = label;
    }
    // Boxes hold some disc and soft tissue around the body; most of the box is the body.
    EXPECT_GT(static_cast<double>(best) / total, 0.6) << label_of_segment[segment];
    EXPECT_EQ(ex.level_of_label[best_label], label_of_segment[segment]) << "segment " << segment << " lies on another body";
  }

  // --- SR: Comprehensive SR, TID 1500, a measurement group per vertebra referencing the SEG.
  DcmFileFormat sr;
  ASSERT_TRUE(sr.loadFile((out / "sr.dcm").c_str()).good());
  EXPECT_EQ(text(*sr.getDataset(), DCM_SOPClassUID), UID_ComprehensiveSRStorage);
  EXPECT_EQ(text(*sr.getDataset(), DCM_StudyInstanceUID), "1.2.826.0.1.3680043.10.543.1111111");
  if (have_tool("dsrdump")) {
    const std::string tree = command_output("dsrdump " + (out / "sr.dcm").string());
    EXPECT_NE(tree.find("Imaging Measurement Report"), std::string::npos) << tree;
    EXPECT_NE(tree.find("Probability of pathology"), std::string::npos) << tree;
    EXPECT_NE(tree.find("\"no units\""), std::string::npos) << tree;
    EXPECT_NE(tree.find("Referenced Segment"), std::string::npos) << tree;
    for (const auto& v : vertebrae) {
      const std::string level = v["level"];
      EXPECT_NE(tree.find("=\"" + level + "\""), std::string::npos) << "no tracking identifier " << level;
    }
    size_t abnormal = 0;
    for (size_t at = tree.find("\"Abnormal\""); at != std::string::npos; at = tree.find("\"Abnormal\"", at + 1)) ++abnormal;
    size_t flagged = 0;
    for (const auto& v : vertebrae) flagged += v["pathological"].get<bool>();
    EXPECT_EQ(abnormal, flagged) << "one Abnormal verdict per flagged vertebra";
  } else {
    ADD_FAILURE() << "dsrdump (Debian package dcmtk) is not installed: scripts/setup.sh installs it";
  }

  // --- Secondary captures: RGB with burned-in labels, same study.
  DcmFileFormat sc;
  ASSERT_TRUE(sc.loadFile((out / "sc_1.dcm").c_str()).good());
  EXPECT_EQ(text(*sc.getDataset(), DCM_SOPClassUID), UID_SecondaryCaptureImageStorage);
  EXPECT_EQ(text(*sc.getDataset(), DCM_PhotometricInterpretation), "RGB");
  EXPECT_EQ(text(*sc.getDataset(), DCM_StudyInstanceUID), "1.2.826.0.1.3680043.10.543.1111111");
  EXPECT_EQ(text(*sc.getDataset(), DCM_BurnedInAnnotation), "YES");

  // --- Every output valid by dicom3tools' IOD checker.
  if (have_tool("dciodvfy")) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(out)) files.push_back(e.path());
    EXPECT_GE(files.size(), 3u);
    for (const auto& f : files) {
      const auto errors = dciodvfy_errors(f);
      std::string all;
      for (const auto& e : errors) all += e + "\n";
      EXPECT_TRUE(errors.empty()) << f.filename() << ":\n" << all;
    }
  } else {
    ADD_FAILURE() << "dciodvfy (Debian package dicom3tools) is not installed: scripts/setup.sh installs it";
  }
}

TEST(DicomOut, SeveralStudiesGetAFolderEachNamedAsTheirReports) {
  DicomExample ex;
  const auto r = run_cli("analyze " + ex.series.string() + " " + ex.series.string() + "/ --out " + (ex.tmp / "reports").string() +
                         " --dicom-out " + (ex.tmp / "dicom").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"study_001", "study_002"}) {
    EXPECT_TRUE(std::filesystem::exists(ex.tmp / "reports" / name / "report.json")) << name;
    for (const char* file : {"seg.dcm", "sr.dcm", "sc_1.dcm"})
      EXPECT_TRUE(std::filesystem::exists(ex.tmp / "dicom" / name / file)) << name << "/" << file;
  }
}

TEST(DicomOut, NeedsADicomSourceAndSaysSoBeforeAnyWork) {
  TempDir tmp;
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  const auto r = run_cli("analyze " + (src / "examples/phantom_study.nii.gz").string() + " --out " + (tmp / "report").string() +
                         " --dicom-out " + (tmp / "dicom").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--dicom-out needs a DICOM series folder as input (this is NIfTI)"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "dicom"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "report"));
}

}  // namespace
