// Every supported format and several acquisition directions read back to one canonical volume.
#include <gtest/gtest.h>

#include "spinescan/core/errors.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::TempDir;

namespace {

const Phantom& phantom() {
  static const Phantom p = make_phantom(5, spinescan::testing::small_phantom_options());
  return p;
}

Volume<float> as_float(const Volume<int16_t>& v) {
  Volume<float> f = v.like<float>();
  for (size_t i = 0; i < v.voxels.size(); ++i) f.voxels[i] = v.voxels[i];
  return f;
}

// Directions to store the phantom under: the shared dataset's layout (LPS identity), a
// radiological flip, an axial acquisition (slices along z, i.e. the thick axis along SI after
// permutation), a coronal one, and a left-handed matrix.
std::vector<std::pair<std::string, Matrix3>> directions() {
  return {{"LPS identity", identity_matrix()},
          {"canonical PIR", kCanonicalDirection},
          {"axial-acquired RAS-like", signed_permutation({0, 1, 2}, {-1, -1, 1})},
          {"permuted SLA", signed_permutation({2, 0, 1}, {1, 1, -1})},
          {"coronal-acquired", signed_permutation({0, 2, 1}, {1, -1, 1})},
          {"left-handed", signed_permutation({1, 0, 2}, {1, 1, 1})}};
}

void expect_same_canonical(const Volume<float>& got, const Volume<float>& expected, const std::string& what) {
  ASSERT_EQ(got.size, expected.size) << what;
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(got.spacing_mm[a], expected.spacing_mm[a], 1e-4) << what;
    EXPECT_NEAR(got.origin_lps[a], expected.origin_lps[a], 1e-3) << what;
    for (int p = 0; p < 3; ++p) EXPECT_NEAR(got.direction[p][a], kCanonicalDirection[p][a], 1e-6) << what;
  }
  ASSERT_EQ(got.voxels, expected.voxels) << what;
}

}  // namespace

TEST(IoFormats, EveryFormatAndDirectionGivesTheSameCanonicalVolume) {
  TempDir tmp;
  const Volume<float> expected = as_float(phantom().canonical_image);
  int checked = 0;
  for (const auto& [name, direction] : directions()) {
    const Volume<int16_t> stored = reorient(phantom().canonical_image, direction);
    for (const char* ext : {".nii.gz", ".nii", ".mha", ".nrrd"}) {
      const auto path = tmp / ("v" + std::to_string(checked) + ext);
      write_volume(stored, path);
      const LoadedStudy s = load_study(path);
      expect_same_canonical(s.canonical, expected, name + " " + ext);
      EXPECT_EQ(s.info.orientation_code, orientation_code(direction)) << name << ext;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 24);
}

TEST(IoFormats, DicomSeriesRoundTripsInEveryDirection) {
  TempDir tmp;
  const Volume<float> expected = as_float(phantom().canonical_image);
  int n = 0;
  for (const auto& [name, direction] : directions()) {
    const auto folder = tmp / ("dicom" + std::to_string(n++));
    write_dicom_series(reorient(phantom().canonical_image, direction), folder);
    const LoadedStudy s = load_study(folder);
    EXPECT_EQ(s.info.format, "DICOM");
    EXPECT_EQ(s.info.num_series_in_folder, 1);
    expect_same_canonical(s.canonical, expected, "DICOM " + name);
  }
}

TEST(IoFormats, CompressedDicomSeriesReadBackVoxelForVoxel) {
  // The transfer syntaxes a DICOM file may use (file_checks.cpp lists them; anything else is
  // refused as needing a decoder spinescan lacks), each lossless: JPEG 2000 and JPEG written by
  // ITK's GDCM writer, RLE and JPEG-LS (which ITK 5.2 does not write) by GDCM's gdcmconv.
  TempDir tmp;
  const Volume<float> expected = as_float(phantom().canonical_image);
  struct Kind {
    const char* name;
    const char* transfer_syntax;
    const char* gdcmconv_flag;  // nullptr: written by write_dicom_series itself
  };
  const Kind kinds[] = {{"jpeg2000", "1.2.840.10008.1.2.4.90", nullptr},
                        {"jpeg", "1.2.840.10008.1.2.4.70", nullptr},
                        {"rle", "1.2.840.10008.1.2.5", "--rle"},
                        {"jpegls", "1.2.840.10008.1.2.4.80", "--jpegls"}};
  const bool have_gdcmconv = std::system("command -v gdcmconv >/dev/null 2>&1") == 0;
  int checked = 0;
  for (const auto& kind : kinds) {
    DicomSeriesOptions options;
    const auto folder = tmp / kind.name;
    if (!kind.gdcmconv_flag) {
      options.compression = kind.name;
      write_dicom_series(phantom().canonical_image, folder, options);
    } else {
      if (!have_gdcmconv) continue;  // libgdcm-tools, which scripts/setup.sh installs
      write_dicom_series(phantom().canonical_image, folder, options);
      for (const auto& f : std::filesystem::directory_iterator(folder)) {
        const std::string command = std::string("gdcmconv ") + kind.gdcmconv_flag + " " + f.path().string() + " " +
                                    f.path().string() + ".tmp && mv " + f.path().string() + ".tmp " + f.path().string();
        ASSERT_EQ(std::system(command.c_str()), 0) << command;
      }
    }
    const std::string first = spinescan::testing::read_file(folder / "slice_0000.dcm");
    EXPECT_NE(first.find(kind.transfer_syntax), std::string::npos) << kind.name << " wrote another transfer syntax";
    const LoadedStudy s = load_study(folder);
    expect_same_canonical(s.canonical, expected, std::string("DICOM ") + kind.name);
    ++checked;
  }
  EXPECT_GE(checked, 2);
  DicomSeriesOptions unknown;
  unknown.compression = "jpegxl";
  EXPECT_THROW(write_dicom_series(phantom().canonical_image, tmp / "xl", unknown), ConfigError);
}

TEST(IoFormats, AReproducibleDicomSeriesIsTheSameBytesEachTimeAndAnOrdinaryOneIsNot) {
  // The fuzz seeds are written this way ("same arguments, same bytes"); an ordinary series gets
  // fresh instance UIDs and the time of writing.
  TempDir tmp;
  DicomSeriesOptions options;
  options.series_uid = "1.2.826.0.1.3680043.10.1151.1.9";
  options.study_uid = "1.2.826.0.1.3680043.10.1151.2.9";
  options.reproducible = true;
  write_dicom_series(phantom().canonical_image, tmp / "a", options);
  write_dicom_series(phantom().canonical_image, tmp / "b", options);
  const auto slice = [&](const char* folder) { return spinescan::testing::read_file(tmp / folder / "slice_0003.dcm"); };
  EXPECT_EQ(slice("a"), slice("b"));
  EXPECT_NE(slice("a").find(options.series_uid + ".4"), std::string::npos) << "the SOP instance UID derives from the series UID";
  options.reproducible = false;
  write_dicom_series(phantom().canonical_image, tmp / "c", options);
  EXPECT_NE(slice("a"), slice("c"));
  EXPECT_EQ(load_study(tmp / "a").canonical.voxels, load_study(tmp / "c").canonical.voxels);
  options.series_uid.clear();
  options.reproducible = true;
  EXPECT_THROW(write_dicom_series(phantom().canonical_image, tmp / "d", options), ConfigError);
}

TEST(IoFormats, DicomFolderWithSeveralSeriesPicksTheSagittalT2OrTheOneAsked) {
  TempDir tmp;
  const auto folder = tmp / "study";
  // A sagittal T2 (slices along x) and an axial T1 (slices along z) in one folder.
  DicomSeriesOptions t2;
  t2.series_description = "T2_TSE_SAG";
  t2.series_uid = "1.2.826.0.1.3680043.8.498.1";
  DicomSeriesOptions t1;
  t1.series_description = "T1_AX";
  t1.echo_time_ms = 12;
  t1.series_uid = "1.2.826.0.1.3680043.8.498.2";
  write_dicom_series(reorient(phantom().canonical_image, signed_permutation({1, 2, 0}, {1, -1, 1})), tmp / "a", t2);
  write_dicom_series(reorient(phantom().canonical_image, identity_matrix()), tmp / "b", t1);
  std::filesystem::create_directories(folder);
  for (const char* sub : {"a", "b"})
    for (const auto& f : std::filesystem::directory_iterator(tmp / sub))
      std::filesystem::copy(f.path(), folder / (std::string(sub) + f.path().filename().string()));
  const auto series = list_dicom_series(folder);
  EXPECT_EQ(series.size(), 2u);
  StudyInfo info;
  read_volume(folder, &info);
  EXPECT_EQ(info.series_uid, t2.series_uid);
  EXPECT_EQ(info.series_description, "T2_TSE_SAG");
  ReadOptions pick;
  pick.series_uid = t1.series_uid;
  read_volume(folder, &info, pick);
  EXPECT_EQ(info.series_uid, t1.series_uid);
  EXPECT_EQ(info.acquisition_plane, "sagittal");  // the thick phantom axis is left-right whatever the storage
}

TEST(IoFormats, LabelVolumesReadAsIntegersInAnyDirection) {
  TempDir tmp;
  const Volume<uint8_t> labels = phantom().canonical_labels;
  for (const auto& [name, direction] : directions()) {
    const auto path = tmp / "labels.nii.gz";
    write_volume(reorient(labels, direction), path);
    const Volume<uint16_t> back = to_canonical(read_label_volume(path));
    ASSERT_EQ(back.voxels.size(), labels.voxels.size());
    for (size_t i = 0; i < labels.voxels.size(); ++i) ASSERT_EQ(back.voxels[i], labels.voxels[i]) << name;
  }
}
