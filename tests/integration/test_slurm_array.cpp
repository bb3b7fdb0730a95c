// scripts/slurm/analyze_array.sbatch on a real single-node Slurm (Debian's slurm-wlm and
// munge), started by this test on loopback with its own configuration, ports and folders: an
// array over a manifest of phantom studies reports every good study, logs the bad one and goes
// on, and the same array submitted again does no study twice.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

pid_t spawn(const std::string& command, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    FILE* out = std::fopen(log.c_str(), "a");
    ::dup2(fileno(out), 1);
    ::dup2(fileno(out), 2);
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string command_output(const std::string& command, int* status = nullptr) {
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

bool have(const char* program) { return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0; }

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// munged, slurmctld and slurmd for one node ("localhost", 2 CPUs), all under `root`.
class SlurmCluster {
 public:
  explicit SlurmCluster(const fs::path& root) : root_(root) {
    for (const char* d : {"munge", "state", "spool", "log"}) fs::create_directories(root / d);
    fs::permissions(root / "munge", fs::perms::owner_all, fs::perm_options::replace);
    const std::string socket = (root / "munge/munge.sock").string();
    command_output("mungekey --create --keyfile=" + (root / "munge/munge.key").string());
    // -f: munged refuses folders it does not consider secure (a test's temp folder).
    pids_.push_back(spawn("munged -F -f --socket=" + socket + " --key-file=" + (root / "munge/munge.key").string() +
                              " --log-file=" + (root / "log/munged.log").string() + " --pid-file=" +
                              (root / "munge/munged.pid").string() + " --seed-file=" + (root / "munge/seed").string(),
                          root / "log/munged.out"));
    std::ofstream(root / "slurm.conf")
        << "ClusterName=spinescantest\nSlurmctldHost=localhost\n"
        << "SlurmctldPort=" << free_port() << "\nSlurmdPort=" << free_port() << "\n"
        << "SlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\nAuthInfo=socket=" << socket << "\nCredType=cred/munge\n"
        << "StateSaveLocation=" << (root / "state").string() << "\nSlurmdSpoolDir=" << (root / "spool").string() << "\n"
        << "SlurmctldPidFile=" << (root / "slurmctld.pid").string() << "\nSlurmdPidFile=" << (root / "slurmd.pid").string() << "\n"
        << "SlurmctldLogFile=" << (root / "log/slurmctld.log").string() << "\nSlurmdLogFile=" << (root / "log/slurmd.log").string()
        << "\nProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n"
        << "AccountingStorageType=accounting_storage/none\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
        << "ReturnToService=2\nMpiDefault=none\n"
        << "NodeName=localhost NodeHostname=localhost CPUs=2 RealMemory=4000 State=UNKNOWN\n"
        << "PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP\n";
    ::setenv("SLURM_CONF", (root / "slurm.conf").c_str(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    pids_.push_back(spawn("slurmctld -D -f " + (root / "slurm.conf").string(), root / "log/slurmctld.out"));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    pids_.push_back(spawn("slurmd -D -N localhost -f " + (root / "slurm.conf").string(), root / "log/slurmd.out"));
  }
  ~SlurmCluster() {
    command_output("scancel --full --user=root");
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) stop(*it);
    ::unsetenv("SLURM_CONF");
  }
  bool wait_idle(double timeout_s) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      if (command_output("sinfo -h -o %t").find("idle") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    return false;
  }
  std::string logs() const {
    std::string all;
    for (const char* f : {"log/munged.out", "log/slurmctld.out", "log/slurmd.out", "log/slurmctld.log", "log/slurmd.log"})
      if (fs::exists(root_ / f)) all += std::string("--- ") + f + "\n" + read_file(root_ / f);
    return all;
  }

 private:
  fs::path root_;
  std::vector<pid_t> pids_;
};

TEST(SlurmArray, ReportsEveryStudyLogsTheBadOneAndDoesNoWorkTwiceWhenResubmitted) {
  for (const char* program : {"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo"})
    if (!have(program)) GTEST_SKIP() << program << " is not installed (Debian: slurm-wlm munge; scripts/setup.sh installs them)";
  if (::geteuid() != 0) GTEST_SKIP() << "a private slurmd runs jobs as root here; run as root (as CI does)";
  TempDir tmp;
  SlurmCluster cluster(tmp / "slurm");
  ASSERT_TRUE(cluster.wait_idle(60)) << cluster.logs();

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
