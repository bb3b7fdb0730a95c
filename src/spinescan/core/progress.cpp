#include "spinescan/core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "spinescan/core/logging.h"

namespace spinescan {

Progress::Progress(std::string what, int64_t total, std::string unit, int64_t already_done)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), already_done_(already_done),
      start_(std::chrono::steady_clock::now()), last_print_(start_), tty_(::isatty(2) != 0) {}

void Progress::update(int64_t done, const std::string& detail) {
  if (log_level() > LogLevel::info) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (done < total_ && since_print < (tty_ ? 0.2 : 5.0)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? (done - already_done_) / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
  std::fprintf(stderr, "%s%s %lld/%lld %s, %.2f %s/s, ETA %.0f s%s%s%s", tty_ ? "\r" : "", what_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), rate, unit_.c_str(), eta,
               detail.empty() ? "" : ", ", detail.c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void Progress::finish() {
  if (tty_ && log_level() <= LogLevel::info) std::fprintf(stderr, "\n");
}

}  // namespace spinescan
