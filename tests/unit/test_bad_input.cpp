// Every kind of bad input gives a DataError that names the file and the problem.
#include <gtest/gtest.h>

#include <limits>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;
using spinescan::testing::write_file;

namespace {

// Expects load_study(path) to throw DataError whose message holds every fragment.
void expect_load_error(const std::filesystem::path& path, const std::vector<std::string>& fragments) {
  try {
    load_study(path);
    FAIL() << "no error for " << path;
  } catch (const DataError& e) {
    const std::string m = e.what();
    for (const auto& f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "'" << f << "' not in: " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "message spans lines: " << m;
  }
}

Volume<float> small_volume(float fill = 0) {
  Volume<float> v;
  v.size = {8, 6, 4};
  v.voxels.assign(v.num_voxels(), fill);
  for (size_t i = 0; i < v.voxels.size() && fill == 0; ++i) v.voxels[i] = static_cast<float>(i % 17);
  return v;
}

}  // namespace

TEST(BadInput, MissingFile) { expect_load_error("/nonexistent/study.nii.gz", {"/nonexistent/study.nii.gz", "no such file"}); }

TEST(BadInput, UnsupportedExtension) {
  TempDir tmp;
  write_file(tmp / "slice.png", "not an image");
  expect_load_error(tmp / "slice.png", {"slice.png", "unsupported file type"});
}

TEST(BadInput, TruncatedNifti) {
  TempDir tmp;
  write_volume(small_volume(), tmp / "full.nii");
  const std::string bytes = read_file(tmp / "full.nii");
  write_file(tmp / "cut.nii", bytes.substr(0, 352 + 10));  // header and a few voxels
  expect_load_error(tmp / "cut.nii", {"cut.nii"});
  write_file(tmp / "header_only.nii", bytes.substr(0, 100));  // not even a whole header
  expect_load_error(tmp / "header_only.nii", {"header_only.nii", "NIfTI"});
}

TEST(BadInput, TruncatedCompressedNifti) {
  TempDir tmp;
  // Big enough that the compressed voxels span many deflate blocks (a cut near the end then
  // leaves most voxels readable, which ITK's reader took for a whole volume).
  Volume<float> v;
  v.size = {64, 64, 24};
  v.voxels.resize(v.num_voxels());
  Rng rng(5);
  for (auto& x : v.voxels) x = static_cast<float>(rng.integer(0, 1000));
  write_volume(v, tmp / "full.nii.gz");
  EXPECT_NO_THROW(load_study(tmp / "full.nii.gz"));
  const std::string bytes = read_file(tmp / "full.nii.gz");
  for (const size_t keep : {bytes.size() / 2, bytes.size() * 9 / 10, bytes.size() * 99 / 100, bytes.size() - 8, bytes.size() - 1}) {
    const std::string name = "cut_" + std::to_string(keep) + ".nii.gz";
    write_file(tmp / name, bytes.substr(0, keep));
    expect_load_error(tmp / name, {name, "truncated"});
  }
  // Bytes after a whole stream (a second gzip member, or padding) do not make it short.
  write_file(tmp / "padded.nii.gz", bytes + bytes);
  EXPECT_NO_THROW(load_study(tmp / "padded.nii.gz"));
}

TEST(BadInput, TruncatedMetaImage) {
  TempDir tmp;
  write_file(tmp / "cut.mha",
             "ObjectType = Image\nNDims = 3\nDimSize = 10 10 10\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n" +
                 std::string(100, '\x05'));
  expect_load_error(tmp / "cut.mha", {"cut.mha"});
}

TEST(BadInput, TwoDimensionalImage) {
  TempDir tmp;
  write_file(tmp / "flat.mha",
             "ObjectType = Image\nNDims = 2\nDimSize = 4 4\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n" +
                 std::string(16, '\x07'));
  expect_load_error(tmp / "flat.mha", {"flat.mha", "2D image", "3D volume is needed"});
  // A 3D file holding a single slice is no volume either.
  Volume<float> single = small_volume();
  single.size = {8, 6, 1};
  single.voxels.resize(48);
  write_volume(single, tmp / "single.nii.gz");
  expect_load_error(tmp / "single.nii.gz", {"single.nii.gz"});
}

TEST(BadInput, EmptyAndConstantVolumes) {
  TempDir tmp;
  write_volume(small_volume(0.0f).like<float>(), tmp / "zeros.nrrd");
  expect_load_error(tmp / "zeros.nrrd", {"zeros.nrrd", "empty or constant volume"});
  write_volume(small_volume(3.5f), tmp / "constant.mha");
  expect_load_error(tmp / "constant.mha", {"constant.mha", "constant"});
}

TEST(BadInput, NotANumber) {
  TempDir tmp;
  Volume<float> v = small_volume();
  v.voxels[5] = std::numeric_limits<float>::quiet_NaN();
  // (ITK's NIfTI writer does not keep a NaN voxel, so the formats that do are used here.)
  write_volume(v, tmp / "nan.nrrd");
  expect_load_error(tmp / "nan.nrrd", {"nan.nrrd", "NaN"});
  v.voxels[5] = 1;
  v.voxels[9] = std::numeric_limits<float>::infinity();
  write_volume(v, tmp / "inf.mha");
  expect_load_error(tmp / "inf.mha", {"inf.mha", "non-finite"});
}

TEST(BadInput, FolderWithoutDicom) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "empty");
  expect_load_error(tmp / "empty", {"empty", "no DICOM series"});
  write_file(tmp / "empty/notes.txt", "a text file");
  write_file(tmp / "empty/garbage.dcm", std::string(300, 'z'));  // named .dcm, not DICOM
  // GDCM would parse every file of the folder: one that is no Part 10 DICOM file is named.
  expect_load_error(tmp / "empty", {"not a DICOM Part 10 file"});
}

TEST(BadInput, TruncatedDicomSeries) {
  TempDir tmp;
  Volume<int16_t> v;
  v.size = {16, 16, 5};
  v.voxels.resize(v.num_voxels());
  for (size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<int16_t>(i % 100);
  write_dicom_series(v, tmp / "series");
  const auto victim = tmp / "series/slice_0002.dcm";
  const std::string bytes = read_file(victim);
  write_file(victim, bytes.substr(0, bytes.size() - 300));  // pixel data cut short
  expect_load_error(tmp / "series", {"series"});
}

TEST(BadInput, LabelVolumeWithFloatValues) {
  TempDir tmp;
  write_volume(small_volume(), tmp / "labels.nii.gz");
  EXPECT_THROW(read_label_volume(tmp / "labels.nii.gz"), DataError);
}
