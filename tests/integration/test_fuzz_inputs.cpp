// The fuzz harnesses (fuzz/harness.h) in the ordinary build. The seeds a fuzz run starts from
// are studies and files the tool accepts, so the fuzzer mutates real inputs; a seed cut short is
// refused with a typed error; and every input a fuzz run once failed on (fuzz/regressions/) is
// handled again without a crash or an untyped error, in every build, clang or not.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "harness.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace spinescan;
using spinescan::testing::command_output;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;

namespace {

// Feeds `bytes` to the harness of the target named as in scripts/fuzz.sh.
bool feed(const std::string& target, const std::string& bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  static const std::map<std::string, fuzz::StudyFormat> readers = {
      {"read_nifti", fuzz::StudyFormat::nifti},         {"read_nifti_gz", fuzz::StudyFormat::nifti_gz},
      {"read_metaimage", fuzz::StudyFormat::metaimage}, {"read_nrrd", fuzz::StudyFormat::nrrd},
      {"read_dicom_file", fuzz::StudyFormat::dicom_file}, {"read_dicom_folder", fuzz::StudyFormat::dicom_folder}};
  if (readers.count(target)) return fuzz::read_study_input(readers.at(target), data, bytes.size());
  if (target == "dataset") return fuzz::dataset_input(data, bytes.size());
  if (target == "splits") return fuzz::splits_input(data, bytes.size());
  if (target == "bundle_manifest") return fuzz::bundle_manifest_input(data, bytes.size());
  ADD_FAILURE() << "unknown fuzz target " << target;
  return false;
}

// What `body` wrote to standard error: file descriptor 2 and the C and C++ streams on it. Library
// code that prints past our log (GDCM, vnl, MetaIO, niftilib) shows here.
std::string stderr_of(const std::function<void()>& body) {
  TempDir tmp;
  const fs::path file = tmp / "stderr";
  std::cerr.flush();
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int sink = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(sink, 2);
  ::close(sink);
  try {
    body();
  } catch (...) {
    std::cerr.flush();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    throw;
  }
  std::cerr.flush();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  return read_file(file);
}

}  // namespace

TEST(FuzzInputs, EverySeedIsAcceptedAndEveryReaderSeedCutShortIsRefused) {
  fuzz::initialize();
  TempDir tmp;
  int status = -1;
  const std::string out = command_output(std::string(SPINESCAN_FUZZ_SEEDS) + " " + (tmp / "seeds").string() + " " +
                                             SPINESCAN_SOURCE_DIR + " 2>&1",
                                         &status);
  ASSERT_EQ(status, 0) << out;
  std::map<std::string, int> seeds_per_target;
  for (const auto& dir : fs::directory_iterator(tmp / "seeds")) {
    const std::string target = dir.path().filename().string();
    for (const auto& seed : fs::directory_iterator(dir.path())) {
      const std::string bytes = read_file(seed.path());
      EXPECT_TRUE(feed(target, bytes)) << target << "/" << seed.path().filename().string() << " is refused";
      ++seeds_per_target[target];
      if (target.rfind("read_", 0) == 0) {
        // Half a file (for a folder: its files joined, cut in the middle of one) must be refused.
        EXPECT_FALSE(feed(target, bytes.substr(0, bytes.size() / 2)))
            << target << "/" << seed.path().filename().string() << " cut in half is accepted";
      }
    }
  }
  for (const char* t : {"read_nifti", "read_nifti_gz", "read_metaimage", "read_nrrd", "read_dicom_file",
                        "read_dicom_folder", "dataset", "splits", "bundle_manifest"})
    EXPECT_GE(seeds_per_target[t], 2) << t;
}

TEST(FuzzInputs, EveryInputAFuzzRunFailedOnIsHandledWithATypedErrorOrAcceptedAndPrintsNothing) {
  fuzz::initialize();
  const fs::path kept = fs::path(SPINESCAN_SOURCE_DIR) / "fuzz" / "regressions";
  int inputs = 0;
  for (const auto& dir : fs::directory_iterator(kept)) {
    if (!dir.is_directory()) continue;
    for (const auto& input : fs::directory_iterator(dir.path())) {
      SCOPED_TRACE(input.path().string());
      // A crash ends the test program; an untyped exception fails here; a library's own print
      // on stderr would be noise beside the CLI's one line.
      std::string printed;
      EXPECT_NO_THROW(printed = stderr_of([&] { feed(dir.path().filename().string(), read_file(input.path())); }));
      EXPECT_EQ(printed, "");
      ++inputs;
    }
  }
  // The folder holds what the fuzz runs found (docs/reliability.md lists each); an empty or
  // missing folder means the inputs were lost, not that nothing was found.
  EXPECT_GE(inputs, 1);
}

TEST(FuzzInputs, ALibrarysOwnPrintReachesTheDebugLogAndNotStandardError) {
  // The kept NIfTI whose subnormal orientation makes vnl's SVD print on std::cerr: the study is
  // read (it is a valid header), stderr holds only our warning, and -v shows the library's text.
  TempDir tmp;
  const fs::path study = tmp / "subnormal_sform.nii";
  spinescan::testing::write_file(study, read_file(fs::path(SPINESCAN_SOURCE_DIR) / "fuzz/regressions/read_nifti/noise-04d2c65691b0b7"));
  const auto quiet = spinescan::testing::run_cli("info " + study.string());
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("vnl"), std::string::npos) << quiet.err;
  const auto verbose = spinescan::testing::run_cli("-v info " + study.string());
  EXPECT_NE(verbose.err.find("debug: library: "), std::string::npos) << verbose.err;
  EXPECT_NE(verbose.err.find("vnl_svd"), std::string::npos) << verbose.err;
}
