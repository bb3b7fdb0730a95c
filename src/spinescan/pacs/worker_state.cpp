#include "spinescan/pacs/worker_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"

namespace fs = std::filesystem;

namespace spinescan::pacs {
namespace {
constexpr const char* kFile = "worker_state.json";
constexpr int kVersion = 1;
}  // namespace

WorkerState WorkerState::load(const fs::path& folder) {
  WorkerState s;
  const fs::path path = folder / kFile;
  if (!fs::exists(path)) return s;
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto j = nlohmann::json::parse(text, nullptr, false);
  SPINESCAN_CHECK(j.is_object(), path.string(), ": not a JSON object (corrupt worker state; move it aside to start afresh)");
  SPINESCAN_CHECK(j.contains("version") && j["version"].is_number_integer() && j["version"] == kVersion, path.string(),
                  ": field 'version' must be ", kVersion);
  SPINESCAN_CHECK(j.contains("last_change") && j["last_change"].is_number_integer() && j["last_change"].get<int64_t>() >= 0,
                  path.string(), ": field 'last_change' must be a non-negative integer");
  SPINESCAN_CHECK(j.contains("series") && j["series"].is_object(), path.string(), ": field 'series' must be an object");
  s.last_change = j["last_change"].get<int64_t>();
  for (const auto& [id, outcome] : j["series"].items()) {
    SPINESCAN_CHECK(outcome.is_string(), path.string(), ": field 'series.", id, "' must be a string");
    s.outcome[id] = outcome.get<std::string>();
  }
  return s;
}

void WorkerState::save(const fs::path& folder) const {
  nlohmann::json series = nlohmann::json::object();
  for (const auto& [id, o] : outcome) series[id] = o;
  write_text_atomically(folder / kFile,
                        nlohmann::json{{"version", kVersion}, {"last_change", last_change}, {"series", series}}.dump(1) + "\n");
}

StateFolderLock::StateFolderLock(const fs::path& folder) {
  fs::create_directories(folder);
  const fs::path path = folder / "lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SPINESCAN_CHECK_AS(fd_ >= 0, ConfigError, path.string(), ": cannot open the state folder's lock");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw ConfigError(folder.string() + ": another worker is using this state folder");
  }
}

StateFolderLock::~StateFolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

}  // namespace spinescan::pacs
