#pragma once
// Shared test helpers: a temporary folder and a small, fast phantom.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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
#endif

}  // namespace spinescan::testing
