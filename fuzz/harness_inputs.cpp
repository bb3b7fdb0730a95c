#include "harness.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"
#include "spinescan/io/study_reader.h"

namespace spinescan::fuzz {

namespace fs = std::filesystem;

namespace {

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();  // a full scratch disk would otherwise look like a refused input
}

struct ScratchFolder {
  fs::path path;
  ScratchFolder() {
    const char* tmp = std::getenv("TMPDIR");
    path = fs::path(tmp && *tmp ? tmp : "/tmp") / ("spinescan-fuzz-" + std::to_string(::getpid()));
  }
  ~ScratchFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

}  // namespace

std::string fresh_scratch_folder() {
  static ScratchFolder scratch;
  fs::remove_all(scratch.path);
  fs::create_directories(scratch.path);
  return scratch.path.string();
}

void initialize() { set_log_level(LogLevel::quiet); }

std::vector<std::string> split_files(const uint8_t* data, size_t size, size_t max_parts) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const std::string separator = kNextFile;
  std::vector<std::string> parts;
  size_t start = 0;
  while (parts.size() + 1 < max_parts) {
    const size_t at = all.find(separator, start);
    if (at == std::string::npos) break;
    parts.push_back(all.substr(start, at - start));
    start = at + separator.size();
  }
  parts.push_back(all.substr(start));
  return parts;
}

namespace {

// The file again, with the first digit of each number of its first image position (0020,0032)
// changed (0-8 up by one, 9 down): the second slice of a two-file series. Two copies at one
// position are refused as no 3D volume (check_dicom_series_order) before GDCM reads pixels.
std::string with_moved_image_position(std::string bytes) {
  const size_t tag = bytes.find(std::string("\x20\x00\x32\x00", 4));
  if (tag == std::string::npos) return bytes;
  const bool explicit_vr = tag + 6 <= bytes.size() && bytes.compare(tag + 4, 2, "DS") == 0;
  const size_t value = tag + 8;
  if (value > bytes.size()) return bytes;
  const auto byte_at = [&](size_t at) { return static_cast<size_t>(static_cast<unsigned char>(bytes[at])); };
  // Explicit VR DS: a 2-byte length after the VR; implicit VR: a 4-byte length after the tag.
  const size_t length = explicit_vr ? byte_at(tag + 6) | byte_at(tag + 7) << 8
                                    : byte_at(tag + 4) | byte_at(tag + 5) << 8 | byte_at(tag + 6) << 16 | byte_at(tag + 7) << 24;
  bool at_number_start = true;
  for (size_t i = value; i < std::min(bytes.size(), value + length); ++i) {
    char& c = bytes[i];
    if (c == '\\') at_number_start = true;
    if (at_number_start && c >= '0' && c <= '9') {
      c = c == '9' ? '8' : static_cast<char>(c + 1);
      at_number_start = false;
    }
  }
  return bytes;
}

}  // namespace

bool read_study_input(StudyFormat format, const uint8_t* data, size_t size) {
  const fs::path folder = fresh_scratch_folder();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  fs::path study;
  switch (format) {
    case StudyFormat::nifti: study = folder / "study.nii"; write_bytes(study, bytes); break;
    case StudyFormat::nifti_gz: study = folder / "study.nii.gz"; write_bytes(study, bytes); break;
    case StudyFormat::metaimage: study = folder / "study.mha"; write_bytes(study, bytes); break;
    case StudyFormat::nrrd: study = folder / "study.nrrd"; write_bytes(study, bytes); break;
    case StudyFormat::dicom_file:
      study = folder / "series";
      fs::create_directories(study);
      write_bytes(study / "a.dcm", bytes);
      write_bytes(study / "b.dcm", with_moved_image_position(bytes));
      break;
    case StudyFormat::dicom_folder: {
      study = folder / "series";
      fs::create_directories(study);
      const auto files = split_files(data, size, 8);
      for (size_t i = 0; i < files.size(); ++i) write_bytes(study / ("f" + std::to_string(i) + ".dcm"), files[i]);
      break;
    }
  }
  try {
    load_study(study);
  } catch (const Error&) {
    return false;  // refused with a typed error: what a bad input must get
  }
  return true;
}

bool dataset_input(const uint8_t* data, size_t size) {
  const fs::path root = fresh_scratch_folder();
  const auto files = split_files(data, size, 2);
  write_bytes(root / "dataset.json", files[0]);
  if (files.size() > 1) write_bytes(root / "vertebrae.csv", files[1]);
  fs::create_directories(root / "cases" / "case_1");
  try {
    const Dataset dataset = load_dataset(root);
    for (const auto& c : dataset.cases) {
      dataset.rows_of(c.name);
      dataset.has_pathological(c.name);
      dataset.case_named(c.name);
    }
    check_dataset(dataset);
  } catch (const Error&) {
    return false;  // refused with a typed error: what a bad input must get
  }
  return true;
}

bool splits_input(const uint8_t* data, size_t size) {
  const fs::path path = fs::path(fresh_scratch_folder()) / "splits.json";
  write_bytes(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    Splits::load(path);
  } catch (const Error&) {
    return false;  // refused with a typed error: what a bad input must get
  }
  return true;
}

}  // namespace spinescan::fuzz
