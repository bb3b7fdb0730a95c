#pragma once
// What each fuzz target does with one input, shared by the libFuzzer binaries (fuzz/targets/,
// built with clang by scripts/fuzz.sh) and by the unit test that replays every kept input
// (tests/unit/test_fuzz_inputs.cpp), so a crash once found stays tested in the ordinary build.
//
// Each returns whether the input was accepted (false: refused with a typed error).
// The rule every target enforces: an input may be refused only with one of spinescan's typed
// errors (core/errors.h), which the CLI turns into one line and exit 1. Any other exception
// escapes the harness, and libFuzzer reports it as a crash, as it does a signal or a
// sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace spinescan::fuzz {

enum class StudyFormat { nifti, nifti_gz, metaimage, nrrd, dicom_file, dicom_folder };

// Separates the files of one input where a target needs several (a DICOM folder, a dataset's
// dataset.json and vertebrae.csv). The seeds hold it, so the fuzzer keeps and mutates it.
inline constexpr char kNextFile[] = "\n--spinescan-fuzz-next-file--\n";

// Splits `data` at kNextFile, at most `max_parts` parts (the last keeps any later separator).
std::vector<std::string> split_files(const uint8_t* data, size_t size, size_t max_parts);

// Writes the input as a study of `format` in a scratch folder and loads it (load_study: the
// reader, the completeness and content checks, the canonical reorientation). A DICOM file is
// read as a series of two copies of it, the second with its image position moved; a DICOM
// folder input is up to 8 files.
bool read_study_input(StudyFormat format, const uint8_t* data, size_t size);

// dataset.json, then vertebrae.csv: load_dataset, and check_dataset (its case volumes are
// absent or whatever the fuzzed paths name).
bool dataset_input(const uint8_t* data, size_t size);

// A splits file: Splits::load.
bool splits_input(const uint8_t* data, size_t size);

// A bundle's manifest.json: read_manifest, then check_bundle_manifest (every stage's spec,
// as loading the bundle parses it, without weights). In its own file, harness_bundle.cpp,
// because it needs the libtorch half of the library.
bool bundle_manifest_input(const uint8_t* data, size_t size);

// The scratch folder of this process: $TMPDIR (or /tmp) / spinescan-fuzz-<pid>, emptied before
// each input and removed at exit.
std::string fresh_scratch_folder();

// Quiet logging; called once before the first input.
void initialize();

}  // namespace spinescan::fuzz
