#pragma once
// Minimal levelled logging to stderr (a duplicate of descriptor 2 taken at first use). Never log patient names or IDs: callers pass
// case names from the dataset and file paths, nothing read from DICOM identity tags.
#include <string>

namespace spinescan {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, quiet = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, const std::string& message);
inline void log_info(const std::string& m) { log(LogLevel::info, m); }
inline void log_warning(const std::string& m) { log(LogLevel::warning, m); }
inline void log_debug(const std::string& m) { log(LogLevel::debug, m); }

// While it lives, whatever third-party code prints on standard error (file descriptor 2: C
// stdio, std::cerr, a raw write) is captured, and each of its lines reaches the log at debug
// level when it ends ("library: ..."). GDCM's OpenJPEG callback fprintf()s every decoder
// complaint, vnl's SVD writes to std::cerr: a refusal must stay one line of ours, with the
// library's text there for whoever asks (-v). The log itself writes to its own duplicate of
// descriptor 2, made before any capture, so our messages are never captured. Single-threaded
// use: the capture is process-wide.
class LibraryOutputToLog {
 public:
  LibraryOutputToLog();
  ~LibraryOutputToLog();
  LibraryOutputToLog(const LibraryOutputToLog&) = delete;
  LibraryOutputToLog& operator=(const LibraryOutputToLog&) = delete;

 private:
  int saved_stderr_ = -1;  // what descriptor 2 was, restored at the end
  int capture_ = -1;       // an anonymous memory file that descriptor 2 points to meanwhile
};

}  // namespace spinescan
