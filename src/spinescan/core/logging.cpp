#include "spinescan/core/logging.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>

namespace spinescan {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_mutex;
const char* prefix(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug: ";
    case LogLevel::warning: return "warning: ";
    case LogLevel::error: return "error: ";
    default: return "";
  }
}
// The log's own descriptor: a duplicate of descriptor 2 as it was at first use, so that a
// LibraryOutputToLog redirecting descriptor 2 never captures our own lines.
int log_descriptor() {
  static const int fd = [] {
    const int d = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
    return d >= 0 ? d : 2;
  }();
  return fd;
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;  // nowhere to log to: not worth failing the command for
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  std::cerr.flush();  // anything the program wrote before stays before this line
  write_all(log_descriptor(), prefix(level) + message + "\n");
}

LibraryOutputToLog::LibraryOutputToLog() {
  (void)log_descriptor();  // taken before descriptor 2 is redirected
  std::cerr.flush();
  std::fflush(stderr);
  capture_ = ::memfd_create("spinescan-library-output", MFD_CLOEXEC);
  if (capture_ < 0) return;  // no capture: the library's text reaches stderr, as without this
  saved_stderr_ = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (saved_stderr_ < 0 || ::dup2(capture_, 2) < 0) {
    if (saved_stderr_ >= 0) ::close(saved_stderr_);
    ::close(capture_);
    capture_ = saved_stderr_ = -1;
  }
}

LibraryOutputToLog::~LibraryOutputToLog() {
  if (capture_ < 0) return;
  std::cerr.flush();
  std::fflush(stderr);
  ::dup2(saved_stderr_, 2);
  ::close(saved_stderr_);
  std::string text;
  char buffer[4096];
  ::lseek(capture_, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(capture_, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(n));
  ::close(capture_);
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) log_debug("library: " + line);
}

}  // namespace spinescan
