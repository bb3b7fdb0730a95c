#pragma once
// A one-line progress report on stderr ("synth 3/10 cases, 1.2 /s, ETA 6 s"), rewritten in
// place on a terminal and printed every few seconds otherwise (logs stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace spinescan {

class Progress {
 public:
  Progress(std::string what, int64_t total, std::string unit);
  void update(int64_t done, const std::string& detail = "");
  void finish();

 private:
  std::string what_, unit_;
  int64_t total_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool tty_;
  bool finished_ = false;
};

}  // namespace spinescan
