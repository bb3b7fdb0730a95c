#pragma once
// Shared test helpers: a temporary folder and a small, fast phantom.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "spinescan/core/rng.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/phantom.h"
#include "spinescan/data/splits.h"

namespace spinescan::testing {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("spinescan-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Coarse spacing keeps a phantom to ~1e5-1e6 voxels so tests stay fast.
inline PhantomOptions small_phantom_options() {
  PhantomOptions o;
  o.min_inplane_spacing_mm = 1.6;
  o.max_inplane_spacing_mm = 2.0;
  o.min_slice_spacing_mm = 3.0;
  o.max_slice_spacing_mm = 4.0;
  return o;
}

// A small phantom dataset at `data` and a case-level split of it at `split`.
inline void write_phantom_dataset_with_splits(const std::filesystem::path& data, const std::filesystem::path& split,
                                              int cases, uint64_t seed, double pathology_probability, int folds) {
  auto o = small_phantom_options();
  o.pathology_probability = pathology_probability;
  write_phantom_dataset(data, cases, seed, o, false);
  const Dataset d = load_dataset(data);
  std::vector<std::string> names;
  std::vector<bool> strata;
  for (const auto& c : d.cases) {
    names.push_back(c.name);
    strata.push_back(d.has_pathological(c.name));
  }
  std::ofstream(split) << make_splits(names, strata, folds, 0).to_json().dump();
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One JSON value per line (metrics.jsonl of a training run).
inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// What a shell command prints, stdout and stderr together; its exit status into `status`.
inline std::string command_output(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int s = ::pclose(p);
  if (status) *status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
  return out;
}

// How often `what` occurs in `text`.
inline size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A float volume rounded to int16 (to write it as a DICOM series).
inline Volume<int16_t> rounded_to_int16(const Volume<float>& volume) {
  Volume<int16_t> v = volume.like<int16_t>();
  for (size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<int16_t>(std::lround(volume.voxels[i]));
  return v;
}

inline void write_file(const std::filesystem::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
}

#ifdef SPINESCAN_BINARY
struct Result {
  int exit_code = -1;
  std::string out, err;
};

// Runs the CLI with a shell command line; stdout and stderr captured separately.
inline Result run_cli(const std::string& args) {
  TempDir tmp;
  const std::string cmd = std::string(SPINESCAN_BINARY) + " " + args + " >" + (tmp / "out").string() + " 2>" +
                          (tmp / "err").string();
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(tmp / "out");
  r.err = read_file(tmp / "err");
  return r;
}

// Starts the CLI, kills it with SIGKILL after `delay`; whether it was still running then.
inline bool kill_cli_after(const std::string& args, std::chrono::milliseconds delay) {
  const std::string command = std::string("exec ") + SPINESCAN_BINARY + " " + args + " >/dev/null 2>&1";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(delay);
  const bool running = waitpid(pid, nullptr, WNOHANG) == 0;
  if (running) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return running;
}

// After a killed and resumed run: no temporary file is left in `folder` and every JSON file in
// it parses whole.
inline void expect_no_half_written_file(const std::filesystem::path& folder, const std::string& what) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(folder)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << what << " left " << entry.path();
    if (entry.path().extension() == ".json")
      EXPECT_TRUE(nlohmann::json::accept(read_file(entry.path()))) << what << ": " << entry.path() << " does not parse";
  }
}

// Issue 20, section 6, for a training command `args` (without --out): runs it once whole in
// tmp/full, then `kills` times from scratch in tmp/killed_K, each killed with SIGKILL at a seeded
// random moment of the whole run's duration and resumed (--resume when a checkpoint landed).
// Checks that at most the running epoch is lost, that the resumed run's metrics.jsonl equals
// the whole run's on `keys` (within `tolerance`: training is deterministic), that no temporary
// file is left, that every JSON file parses whole and that best/manifest.json exists. Returns
// how many kills landed while the run was going.
inline int expect_killed_runs_resume_to_the_whole_result(const std::filesystem::path& tmp, const std::string& args,
                                                       const std::vector<std::string>& keys, double tolerance, int kills = 20) {
  const auto started = std::chrono::steady_clock::now();
  const auto whole_run = run_cli(args + " --out " + (tmp / "full").string());
  EXPECT_EQ(whole_run.exit_code, 0) << whole_run.err;
  const auto whole_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const auto whole = read_jsonl(tmp / "full/metrics.jsonl");
  EXPECT_GE(whole.size(), 2u);
  Rng rng(2026);  // the same kill moments every run
  int landed = 0;
  for (int k = 0; k < kills; ++k) {
    const std::filesystem::path run = tmp / ("killed_" + std::to_string(k));
    const auto delay = std::chrono::milliseconds(static_cast<int64_t>(rng.uniform(0.05, 0.95) * static_cast<double>(whole_ms.count())));
    landed += kill_cli_after(args + " --out " + run.string(), delay);
    const std::string log = std::filesystem::exists(run / "metrics.jsonl") ? read_file(run / "metrics.jsonl") : "";
    const size_t logged = static_cast<size_t>(std::count(log.begin(), log.end(), '\n'));  // a line cut short is not counted
    const bool has_checkpoint = std::filesystem::exists(run / "checkpoints/last.json");
    if (has_checkpoint) {
      // The checkpoint holds every logged epoch but possibly the one being written.
      const auto last = nlohmann::json::parse(read_file(run / "checkpoints/last.json"));
      EXPECT_GE(last["epoch"].get<size_t>() + 2, logged) << "kill " << k;
    }
    const auto resumed = run_cli(args + " --out " + run.string() + (has_checkpoint ? " --resume" : ""));
    EXPECT_EQ(resumed.exit_code, 0) << "kill " << k << " after " << delay.count() << " ms\n" << resumed.err;
    const auto after = read_jsonl(run / "metrics.jsonl");
    EXPECT_EQ(after.size(), whole.size()) << "kill " << k << ": " << read_file(run / "metrics.jsonl");
    for (size_t e = 0; e < std::min(after.size(), whole.size()); ++e) {
      EXPECT_EQ(after[e]["epoch"], whole[e]["epoch"]) << "kill " << k;
      for (const auto& key : keys)
        EXPECT_NEAR(after[e][key].get<double>(), whole[e][key].get<double>(), tolerance) << "kill " << k << ", epoch " << e + 1 << ", " << key;
    }
    expect_no_half_written_file(run, "kill " + std::to_string(k));
    EXPECT_TRUE(std::filesystem::exists(run / "best/manifest.json")) << "kill " << k;
  }
  return landed;
}
#endif

}  // namespace spinescan::testing
