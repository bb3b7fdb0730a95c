#include "spinescan/core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <fstream>

#include "spinescan/core/errors.h"

namespace fs = std::filesystem;

namespace spinescan {

fs::path temporary_sibling(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  const std::string name = target.filename().string();
  // Keep everything from the first dot of the name on, so "x.nii.gz" stays ".nii.gz".
  const auto dot = name.find('.', 1);
  const std::string stem = dot == std::string::npos ? name : name.substr(0, dot);
  const std::string ext = dot == std::string::npos ? "" : name.substr(dot);
  return target.parent_path() /
         ("." + stem + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ext);
}

void write_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
  const fs::path tmp = temporary_sibling(target);
  try {
    write(tmp);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  write_atomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    SPINESCAN_CHECK_AS(out, Error, path.string(), ": cannot write");
  });
}

StagedDirectory::StagedDirectory(fs::path target, bool overwrite)
    : target_(std::move(target)), overwrite_(overwrite) {
  if (fs::exists(target_) && !overwrite_) {
    SPINESCAN_CHECK_AS(fs::is_directory(target_) && fs::is_empty(target_), ConfigError, target_.string(),
                       ": exists and is not empty (choose another folder or pass --overwrite)");
  }
  staging_ = target_;
  staging_ += ".partial-" + std::to_string(::getpid());
  fs::remove_all(staging_);
  fs::create_directories(staging_);
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove_all(staging_, ignored);
  }
}

void StagedDirectory::commit() {
  if (fs::exists(target_)) fs::remove_all(target_);
  fs::rename(staging_, target_);
  committed_ = true;
}

}  // namespace spinescan
