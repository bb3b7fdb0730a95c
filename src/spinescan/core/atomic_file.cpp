#include "spinescan/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <vector>

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

namespace {
// temporary_sibling's names: "." + stem + ".tmp-" + pid + "-" + counter + extension.
bool is_temporary_sibling_name(const std::string& name) {
  return name.size() > 1 && name[0] == '.' && name.find(".tmp-", 1) != std::string::npos;
}
}  // namespace

void remove_interrupted_temporaries(const fs::path& folder) {
  if (!fs::is_directory(folder)) return;
  std::vector<fs::path> stale;
  for (const auto& e : fs::recursive_directory_iterator(folder))
    if (e.is_regular_file() && is_temporary_sibling_name(e.path().filename().string())) stale.push_back(e.path());
  for (const auto& p : stale) fs::remove(p);
}

void sync_to_disk(const fs::path& path) {
  // O_RDONLY works for files and folders alike; fsync on a folder makes its entries (a
  // rename into it) survive a power cut. A file system that cannot sync is not an error.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  if (!target.parent_path().empty()) fs::create_directories(target.parent_path());
  const fs::path tmp = temporary_sibling(target);
  try {
    write(tmp);
    sync_to_disk(tmp);
    fs::rename(tmp, target);
    sync_to_disk(target.parent_path().empty() ? fs::path(".") : target.parent_path());
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
  sync_to_disk(staging_);
  const fs::path parent = target_.parent_path().empty() ? fs::path(".") : target_.parent_path();
  if (!fs::exists(target_)) {
    fs::rename(staging_, target_);
    committed_ = true;
    sync_to_disk(parent);
    return;
  }
  // Replacing: the old folder is renamed aside, the new one takes its name, and only then is
  // the old one removed. Killed at any point, one complete version is on disk under the
  // target's name or beside it; never nothing.
  fs::path aside = target_;
  aside += ".old-" + std::to_string(::getpid());
  fs::remove_all(aside);
  fs::rename(target_, aside);
  try {
    fs::rename(staging_, target_);
  } catch (...) {
    std::error_code ignored;
    fs::rename(aside, target_, ignored);
    throw;
  }
  committed_ = true;
  sync_to_disk(parent);
  std::error_code ignored;
  fs::remove_all(aside, ignored);
}

}  // namespace spinescan
