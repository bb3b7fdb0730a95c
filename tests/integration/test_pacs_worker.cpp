// `spinescan worker` against a real Orthanc (Debian's orthanc + orthanc-dicomweb), started by
// this test (scripts/pacs/local_orthanc.sh) on loopback at free ports with its own
// configuration and storage: a T1 series (left, with the reason logged) and two sagittal T2
// series are uploaded, the worker is killed once mid-way and restarted, and in the end each
// T2 study holds exactly one SEG, one SR and one secondary-capture series, all valid by dciodvfy,
// the worker's own results are never analysed, and SIGTERM stops it cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "spinescan/pacs/orthanc.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using spinescan::testing::command_output;
using spinescan::testing::count_of;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;

constexpr const char* kOrthanc = "/usr/sbin/Orthanc";  // checked before starting one
constexpr const char* kDicomWebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

// A child process running `command` (through sh, exec'd so the pid is the command's own),
// its stdout and stderr into `log`.
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

// Exit status of `pid` once it ends within `timeout_s`, else -1 (and the process is killed).
int wait_exit(pid_t pid, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

template <class Predicate>
bool wait_for(Predicate done, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return done();
}

// scripts/pacs/local_orthanc.sh: Orthanc with its DICOMweb plugin, its own config and storage.
class OrthancServer {
 public:
  explicit OrthancServer(const fs::path& root)
      : root_(root), script_(fs::path(SPINESCAN_SOURCE_DIR) / "scripts/pacs/local_orthanc.sh") {
    output_ = command_output(script_.string() + " start " + root.string());
    const size_t at = output_.rfind("http://");
    if (at != std::string::npos) url_ = output_.substr(at, output_.find_first_of("\r\n", at) - at);
  }
  ~OrthancServer() { command_output(script_.string() + " stop " + root_.string()); }
  const std::string& url() const { return url_; }
  std::string log() const { return output_ + (fs::exists(root_ / "orthanc.log") ? read_file(root_ / "orthanc.log") : ""); }

 private:
  fs::path root_, script_;
  std::string output_, url_;
};

// Series in Orthanc by modality, and their IDs.
std::map<std::string, std::vector<std::string>> series_by_modality(spinescan::pacs::OrthancClient& client) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& s : client.get_json("/series?expand"))
    out[s["MainDicomTags"].value("Modality", "")].push_back(s["ID"].get<std::string>());
  return out;
}

TEST(PacsWorker, StoresSegSrAndCapturesIntoEachStudyOnceAcrossAKilledRestartAndStopsOnSigterm) {
  if (!fs::exists(kOrthanc) || !fs::exists(kDicomWebPlugin))
    GTEST_SKIP() << "Orthanc or its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb; scripts/setup.sh installs them)";
  TempDir tmp;
  OrthancServer server(tmp / "orthanc");
  ASSERT_FALSE(server.url().empty()) << server.log();
  spinescan::pacs::OrthancOptions options;
  options.url = server.url();
  spinescan::pacs::OrthancClient client(options);

  // Two studies: the bundled example in the canonical sagittal layout, as two patients.
  const fs::path src(SPINESCAN_SOURCE_DIR);
  const auto canonical = spinescan::to_canonical(spinescan::read_volume(src / "examples/phantom_study.nii.gz"));
  const spinescan::Volume<int16_t> v = spinescan::testing::rounded_to_int16(canonical);
  std::vector<fs::path> uploads;
  for (const std::string who : {"A", "B"}) {
    spinescan::DicomSeriesOptions o;
    o.patient_name = "Doe^Jane" + who;
    o.patient_id = "MRN4938" + who;
    spinescan::write_dicom_series(v, tmp / ("series" + who), o);
    for (const auto& f : fs::directory_iterator(tmp / ("series" + who))) uploads.push_back(f.path());
  }
  // A third patient's series is T1-weighted: the worker must leave it and say why.
  spinescan::DicomSeriesOptions t1;
  t1.patient_name = "Doe^JaneC";
  t1.patient_id = "MRN4938C";
  t1.series_description = "SAG T1 TSE";
  t1.echo_time_ms = 12;
  spinescan::write_dicom_series(v, tmp / "seriesC", t1);
  for (const auto& f : fs::directory_iterator(tmp / "seriesC")) uploads.push_back(f.path());
  client.store(uploads);

  const std::string worker = std::string(SPINESCAN_BINARY) + " worker --orthanc " + server.url() + " --state " +
                             (tmp / "state").string() + " --poll-seconds 0.5";
  pid_t pid = spawn(worker, tmp / "worker.log");
  const auto reports = [&] { return series_by_modality(client)["SR"].size(); };
  ASSERT_TRUE(wait_for([&] { return reports() >= 1; }, 120)) << read_file(tmp / "worker.log");
  // Mid-way: one study's results are stored, the other's are being made or not yet begun.
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  // A second worker on the same state folder is refused while the first one runs.
  pid = spawn(worker, tmp / "worker.log");
  ASSERT_TRUE(wait_for([&] { return count_of(read_file(tmp / "worker.log"), "worker: watching") >= 2; }, 60));
  const auto clash = command_output(worker + " --once");
  EXPECT_NE(clash.find("another worker is using this state folder"), std::string::npos) << clash;
  // Until both studies have results and the worker has seen its own six series and left them.
  ASSERT_TRUE(wait_for(
      [&] { return reports() >= 2 && count_of(read_file(tmp / "worker.log"), "skipped: spinescan's own result") >= 6; }, 120))
      << read_file(tmp / "worker.log");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 30), 0) << "the worker must stop cleanly on SIGTERM";
  const std::string log = read_file(tmp / "worker.log");
  EXPECT_NE(log.find("worker: stopped"), std::string::npos) << log;

  // Exactly one result of each kind per study: nothing stored twice across the kill.
  auto by_modality = series_by_modality(client);
  EXPECT_EQ(by_modality["MR"].size(), 3u);
  EXPECT_EQ(by_modality["SEG"].size(), 2u);
  EXPECT_EQ(by_modality["SR"].size(), 2u);
  EXPECT_EQ(by_modality["OT"].size(), 2u);
  for (const auto& study : client.get_json("/studies")) {
    std::map<std::string, int> kinds;
    for (const auto& s : client.get_json("/studies/" + study.get<std::string>() + "/series"))
      ++kinds[s["MainDicomTags"].value("Modality", "")];
    if (kinds.size() == 1) {
      EXPECT_EQ(kinds, (std::map<std::string, int>{{"MR", 1}}));  // the T1 study: nothing added
      continue;
    }
    EXPECT_EQ(kinds, (std::map<std::string, int>{{"MR", 1}, {"OT", 1}, {"SEG", 1}, {"SR", 1}}));
  }
  // Each stored result is valid DICOM by dicom3tools.
  for (const char* modality : {"SEG", "SR", "OT"})
    for (const auto& series : by_modality[modality]) {
      const auto instances = client.get_json("/series/" + series + "/instances");
      ASSERT_FALSE(instances.empty());
      const fs::path file = tmp / (std::string(modality) + ".dcm");
      client.download("/instances/" + instances[0]["ID"].get<std::string>() + "/file", file);
      const std::string report = command_output("dciodvfy " + file.string());
      EXPECT_EQ(report.find("Error"), std::string::npos) << modality << ":\n" << report;
    }
  // One line per series, no patient data.
  for (const char* id : {"Doe", "Jane", "MRN4938", "T1 TSE"}) EXPECT_EQ(log.find(id), std::string::npos) << id << " in\n" << log;
  EXPECT_GE(count_of(log, "analysed"), 2u) << log;
  EXPECT_EQ(count_of(log, "skipped: not T2-weighted (echo time 12 ms)"), 1u) << log;
}

}  // namespace
