#pragma once
// A one-line progress report on stderr ("synth 3/10 cases, 1.2 /s, ETA 6 s"), rewritten in
// place on a terminal and printed every few seconds otherwise (logs stay readable).
#include <chrono>
#include <cstdint>
#include <string>

namespace spinescan {

class Progress {
 public:
  // already_done: work finished before this run (a resumed training), left out of the rate.
  Progress(std::string what, int64_t total, std::string unit, int64_t already_done = 0);
  void update(int64_t done, const std::string& detail = "");
  // Ends the current line on a terminal (the next update starts a new one).
  void finish();

 private:
  std::string what_, unit_;
  int64_t total_, already_done_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool tty_;
};

}  // namespace spinescan
