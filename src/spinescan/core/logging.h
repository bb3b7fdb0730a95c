#pragma once
// Minimal levelled logging to stderr. Never log patient names or IDs: callers pass
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

}  // namespace spinescan
