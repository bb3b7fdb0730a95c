// scripts/slurm/analyze_array.sbatch on a real single-node Slurm (Debian's slurm-wlm and
// munge), started by this test through scripts/slurm/local_cluster.sh on loopback with its own
// configuration, ports and folders: an
// array over a manifest of phantom studies reports every good study, logs the bad one and goes
// on, and the same array submitted again does no study twice.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using spinescan::testing::command_output;
using spinescan::testing::count_of;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;

bool have(const char* program) { return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0; }

// scripts/slurm/local_cluster.sh: munged, slurmctld and slurmd for one node, under `root`.
class SlurmCluster {
 public:
  explicit SlurmCluster(const fs::path& root) : root_(root), script_(fs::path(SPINESCAN_SOURCE_DIR) / "scripts/slurm/local_cluster.sh") {
    int status = 0;
    const std::string out = command_output(script_.string() + " start " + root.string(), &status);
    started_ = status == 0;
    start_output_ = out;
    ::setenv("SLURM_CONF", (root / "slurm.conf").c_str(), 1);
  }
  ~SlurmCluster() {
    command_output(script_.string() + " stop " + root_.string());
    ::unsetenv("SLURM_CONF");
  }
  bool started() const { return started_; }
  std::string logs() const {
    std::string all = start_output_;
    for (const char* f : {"log/munged.log", "log/slurmctld.log", "log/slurmd.log"})
      if (fs::exists(root_ / f)) all += std::string("--- ") + f + "\n" + read_file(root_ / f);
    return all;
  }

 private:
  fs::path root_, script_;
  bool started_ = false;
  std::string start_output_;
};

TEST(SlurmArray, ReportsEveryStudyLogsTheBadOneAndDoesNoWorkTwiceWhenResubmitted) {
  for (const char* program : {"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo"})
    if (!have(program)) GTEST_SKIP() << program << " is not installed (Debian: slurm-wlm munge; scripts/setup.sh installs them)";
  if (::geteuid() != 0) GTEST_SKIP() << "a private slurmd runs jobs as root here; run as root (as CI does)";
  TempDir tmp;
  SlurmCluster cluster(tmp / "slurm");
  ASSERT_TRUE(cluster.started()) << cluster.logs();

  // Four copies of the bundled example and a file that is no study.
  const fs::path src(SPINESCAN_SOURCE_DIR);
  fs::create_directories(tmp / "archive");
  std::ofstream manifest(tmp / "archive/studies.tsv");
  manifest << "name\tpath\n";
  for (const std::string name : {"case_a", "case_b", "case_c", "case_d"}) {
    fs::copy_file(src / "examples/phantom_study.nii.gz", tmp / "archive" / (name + ".nii.gz"));
    manifest << name << "\t" << name << ".nii.gz\n";
  }
  std::ofstream(tmp / "archive/broken.nii.gz") << "not a volume";
  manifest << "broken\tbroken.nii.gz\n";
  manifest.close();

  const std::string submit = "cd " + tmp.path().string() + " && SPINESCAN=" + SPINESCAN_BINARY + " sbatch --wait --array=0-1 " +
                             (src / "scripts/slurm/analyze_array.sbatch").string() + " " + (tmp / "archive/studies.tsv").string() +
                             " " + (tmp / "reports").string();
  int status = 0;
  const std::string first = command_output(submit, &status);
  // A task with the broken study exits 1, so the array reports a failure.
  EXPECT_NE(status, 0) << first;
  std::string task_logs;
  for (const auto& f : fs::directory_iterator(tmp.path()))
    if (f.path().filename().string().rfind("spinescan_", 0) == 0) task_logs += read_file(f.path());
  std::map<std::string, fs::file_time_type> written;
  for (const std::string name : {"case_a", "case_b", "case_c", "case_d"}) {
    const fs::path report = tmp / "reports" / name / "report.json";
    ASSERT_TRUE(fs::exists(report)) << name << "\n" << first << task_logs << cluster.logs();
    const auto j = nlohmann::json::parse(read_file(report));
    EXPECT_EQ(j["vertebrae"].size(), 5u) << name;
    written[name] = fs::last_write_time(report);
  }
  EXPECT_FALSE(fs::exists(tmp / "reports/broken"));
  EXPECT_EQ(count_of(task_logs, "spinescan: error: broken:"), 1u) << task_logs;
  EXPECT_EQ(count_of(task_logs, "shard "), 2u) << task_logs;

  // Submitted again: every reported study is skipped, only the broken one is tried again.
  for (const auto& f : fs::directory_iterator(tmp.path()))
    if (f.path().filename().string().rfind("spinescan_", 0) == 0) fs::remove(f.path());
  const std::string second = command_output(submit, &status);
  std::string again;
  for (const auto& f : fs::directory_iterator(tmp.path()))
    if (f.path().filename().string().rfind("spinescan_", 0) == 0) again += read_file(f.path());
  EXPECT_EQ(count_of(again, "already reported; skipped"), 4u) << second << again;
  EXPECT_EQ(count_of(again, "vertebrae,"), 0u) << "a study was analysed twice:\n" << again;
  for (const auto& [name, time] : written) EXPECT_EQ(fs::last_write_time(tmp / "reports" / name / "report.json"), time) << name;
}

}  // namespace
