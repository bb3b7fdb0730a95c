// spinescan worker --orthanc URL --state DIR: a resident process beside a PACS. It loads the
// models once, follows Orthanc's change log for series that became stable, analyses the MR
// ones that look like sagittal T2 and stores SEG, SR and secondary captures back into their
// study with DICOMweb STOW-RS. One line per series on stdout, without patient data.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "commands.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/version.h"
#include "spinescan/io/dicom_uid.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/pacs/dicom_results.h"
#include "spinescan/pacs/orthanc.h"
#include "spinescan/pacs/worker_state.h"
#include "spinescan/pipeline/analyze.h"

namespace fs = std::filesystem;

namespace spinescan::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Why a stable series is not for the models, from its Orthanc headers ("" = analyse it).
// Plane, thickness and field of view are judged after download by the same checks as
// `analyze` (a sagittal acquisition may be stored as reformatted frames of another plane).
std::string skip_reason(const nlohmann::json& series_tags, const nlohmann::json& shared_tags) {
  const auto tag = [&](const char* name) {
    if (shared_tags.contains(name) && shared_tags[name].is_string()) return shared_tags[name].get<std::string>();
    if (series_tags.contains(name) && series_tags[name].is_string()) return series_tags[name].get<std::string>();
    return std::string();
  };
  if (tag("Manufacturer") == "spinescan") return "spinescan's own result";
  const std::string modality = tag("Modality");
  if (modality != "MR") return "modality " + (modality.empty() ? std::string("unknown") : modality) + ", not MR";
  const std::string te = tag("EchoTime");
  const double echo_time_ms = te.empty() ? 0 : std::atof(te.c_str());
  if (!looks_t2_weighted(tag("SeriesDescription"), echo_time_ms))
    return echo_time_ms > 0 ? "not T2-weighted (echo time " + te + " ms)" : "not T2-weighted (no T2 in its description, no echo time)";
  return "";
}

struct WorkerArgs {
  pacs::OrthancOptions orthanc;
  std::string state, model = default_model_path(), device = "cpu";
  double poll_s = 2;
  bool once = false;
};

class Worker {
 public:
  Worker(const WorkerArgs& args, pipeline::Analyzer& analyzer)
      : args_(args), analyzer_(analyzer), client_(args.orthanc), state_(pacs::WorkerState::load(args.state)) {
    const auto m = analyzer_.model_description();
    // Results of the same series by the same program and model keep their UIDs.
    model_key_ = std::string(version()) + "|" + m.value("revision", "") + "|" + m.value("name", "");
  }

  // Reads the change log to its end once. Returns whether the end was reached.
  bool poll() {
    const auto changes = client_.get_json("/changes?since=" + std::to_string(state_.last_change) + "&limit=100");
    SPINESCAN_CHECK_AS(changes.contains("Changes") && changes["Changes"].is_array(), pacs::PacsUnavailable,
                       "Orthanc's /changes answer has no 'Changes' list");
    for (const auto& c : changes["Changes"]) {
      if (g_stop) break;
      const int64_t seq = c.value("Seq", int64_t{0});
      const size_t recorded = state_.outcome.size();
      if (c.value("ChangeType", "") == "StableSeries") process(c.value("ID", ""), seq);
      state_.last_change = std::max(state_.last_change, seq);
      // Saved when a series got its outcome, and once per batch below: changes read again
      // after a crash cost a lookup each, while a save per change would fsync hundreds of
      // times for every uploaded series (one change per instance).
      if (state_.outcome.size() != recorded) state_.save(args_.state);
    }
    if (g_stop) {
      state_.save(args_.state);
      return false;
    }
    if (changes.contains("Last") && changes["Last"].is_number_integer())
      state_.last_change = std::max(state_.last_change, changes["Last"].get<int64_t>());
    state_.save(args_.state);
    return changes.value("Done", true);
  }

 private:
  void record(const std::string& series_id, int64_t seq, const std::string& outcome) {
    state_.outcome[series_id] = outcome;
    std::printf("change %lld: %s\n", static_cast<long long>(seq), outcome.c_str());
    std::fflush(stdout);
  }

  void process(const std::string& series_id, int64_t seq) {
    if (series_id.empty() || state_.outcome.count(series_id)) return;
    const auto series = client_.get_json("/series/" + series_id);
    const auto shared = client_.get_json("/series/" + series_id + "/shared-tags?simplify");
    const nlohmann::json tags = series.value("MainDicomTags", nlohmann::json::object());
    if (const std::string why = skip_reason(tags, shared); !why.empty()) return record(series_id, seq, "skipped: " + why);
    const std::string series_uid = shared.value("SeriesInstanceUID", tags.value("SeriesInstanceUID", ""));
    SPINESCAN_CHECK_AS(!series_uid.empty(), pacs::PacsUnavailable, "series of change ", seq, " has no SeriesInstanceUID");
    const std::string seed = series_uid + "|" + model_key_;
    // Stored before a restart (the report goes last, so its presence means all of it).
    if (client_.has_instance(dicom_uid_from(seed + "|sr"))) return record(series_id, seq, "analysed (results already stored)");

    const fs::path work = fs::path(args_.state) / ("work-" + std::to_string(::getpid()));
    fs::remove_all(work);
    fs::create_directories(work / "series");
    struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code ignored;
        fs::remove_all(p, ignored);
      }
    } cleanup{work};
    auto t0 = std::chrono::steady_clock::now();
    int n = 0;
    for (const auto& instance : series.value("Instances", nlohmann::json::array()))
      client_.download("/instances/" + instance.get<std::string>() + "/file", work / "series" / (std::to_string(n++) + ".dcm"));
    const double fetch_ms = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    pipeline::StudyAnalysis result;
    pacs::DicomResultFiles files;
    try {
      const LoadedStudy study = load_study(work / "series");
      result = analyzer_.analyze(study);
      if (!result.refusal.empty()) return record(series_id, seq, "not analysed: " + result.refusal);
      files = pacs::write_dicom_results(result, analyzer_.model_description(), work / "results", seed);
    } catch (const pacs::PacsUnavailable&) {
      throw;
    } catch (const Error& e) {
      // The message names the work folder (Orthanc's numbering), never the patient.
      return record(series_id, seq, std::string("failed: ") + e.what());
    }
    const double analysis_ms = ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    std::vector<fs::path> first = {files.segmentation};
    first.insert(first.end(), files.captures.begin(), files.captures.end());
    client_.store(first);
    client_.store({files.structured_report});
    const double store_ms = ms_since(t0);
    int flagged = 0;
    for (const auto& v : result.vertebrae) flagged += v.pathological;
    char line[256];
    std::snprintf(line, sizeof line,
                  "analysed: %zu vertebrae, %d flagged; stored SEG, SR and %zu secondary capture(s) (fetch %.0f ms, analysis %.0f ms, "
                  "store %.0f ms)",
                  result.vertebrae.size(), flagged, files.captures.size(), fetch_ms, analysis_ms, store_ms);
    record(series_id, seq, line);
  }

  const WorkerArgs& args_;
  pipeline::Analyzer& analyzer_;
  pacs::OrthancClient client_;
  pacs::WorkerState state_;
  std::string model_key_;
};

}  // namespace

void register_worker(CLI::App& app, Runner& run) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* cmd = app.add_subcommand(
      "worker", "Watch an Orthanc PACS for stable series, analyse the sagittal T2 MR ones and store SEG, SR and secondary captures back");
  cmd->add_option("--orthanc", a->orthanc.url, "Orthanc's HTTP root, e.g. http://127.0.0.1:8042")->required();
  cmd->add_option("--dicomweb", a->orthanc.dicomweb_root, "root of Orthanc's DICOMweb plugin under that URL (STOW-RS)")->capture_default_str();
  cmd->add_option("--state", a->state, "folder for the worker's state (what it has done; survives restarts); one worker per folder")
      ->required();
  cmd->add_option("--model", a->model, "model bundle ($SPINESCAN_MODEL, else the shipped one)");
  cmd->add_option("--poll-seconds", a->poll_s, "seconds between looks at Orthanc's change log when it has nothing new")->capture_default_str();
  cmd->add_flag("--once", a->once, "handle every change there is, then exit (for cron or a test)");
  cmd->add_option("--device", a->device, "cpu, cuda or auto");
  cmd->callback([&run, a] {
    run = [a] {
      if (const char* auth = std::getenv("SPINESCAN_ORTHANC_CREDENTIALS")) a->orthanc.credentials = auth;  // user:password
      pacs::StateFolderLock lock(a->state);
      std::signal(SIGTERM, on_stop_signal);
      std::signal(SIGINT, on_stop_signal);
      pipeline::AnalyzerOptions options;
      options.device = a->device;
      pipeline::Analyzer analyzer(a->model, options);
      Worker worker(*a, analyzer);
      std::printf("worker: watching %s (state in %s)\n", a->orthanc.url.c_str(), a->state.c_str());
      std::fflush(stdout);
      while (!g_stop) {
        bool at_end = false;
        try {
          at_end = worker.poll();
        } catch (const pacs::PacsUnavailable& e) {
          // Nothing is recorded for the series being handled: it is taken up again.
          std::fprintf(stderr, "spinescan: worker: %s; retrying\n", e.what());
          if (a->once) return kDataProblem;
          at_end = true;
        }
        if (at_end && a->once) break;
        if (at_end)
          for (int i = 0; i < static_cast<int>(a->poll_s * 10) && !g_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::printf("worker: stopped\n");
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
