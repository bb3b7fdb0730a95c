#pragma once
// What a PACS worker has done, kept on disk so that a restart neither repeats nor loses a
// series: the last Orthanc change read, and the outcome for every series seen. Written
// atomically after each change; a corrupt file is an error, never silently replaced.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace spinescan::pacs {

struct WorkerState {
  int64_t last_change = 0;                     // Orthanc's change sequence number read up to
  std::map<std::string, std::string> outcome;  // Orthanc series ID -> "analysed", "skipped: ...", ...

  // `folder`/worker_state.json; a fresh state when the file does not exist. Throws DataError
  // naming the field when it is corrupt or wrongly typed.
  static WorkerState load(const std::filesystem::path& folder);
  void save(const std::filesystem::path& folder) const;
};

// Holds an exclusive lock on `folder`/lock for the object's life, so that two workers never
// share a state folder. Throws ConfigError when another process holds it.
class StateFolderLock {
 public:
  explicit StateFolderLock(const std::filesystem::path& folder);
  ~StateFolderLock();
  StateFolderLock(const StateFolderLock&) = delete;
  StateFolderLock& operator=(const StateFolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace spinescan::pacs
