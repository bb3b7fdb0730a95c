// spinescan analyze STUDY...: the main job. Vertebrae found, named and classified, with a
// report a radiologist can check (report.json, report.html, overlay PNGs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/safe_name.h"
#include "spinescan/pacs/dicom_results.h"
#include "spinescan/pipeline/analyze.h"
#include "spinescan/pipeline/report.h"

namespace spinescan::cli {
namespace {

// A study's report folder name in a batch: the file name without its image extension, or
// the DICOM folder's name, other characters than [A-Za-z0-9._-] replaced by '_'.
std::string report_name(const std::string& study) {
  std::filesystem::path p(study);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = p.filename().string();
  for (const char* ext : {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr"}) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
      name.resize(name.size() - e.size());
      break;
    }
  }
  // The name becomes a folder under --out: nothing in it may climb out or hide a separator.
  return to_safe_name(name);
}

// One line of a manifest: the report folder's name and the study's path.
struct ManifestEntry {
  std::string name, study;
};

// studies.tsv: "NAME<TAB>PATH" per line (a header line "name<TAB>path" and lines starting with
// '#' are skipped; relative paths are relative to the manifest's folder). NAME becomes a folder
// under --out and must be a safe name.
std::vector<ManifestEntry> read_manifest(const std::string& path) {
  std::ifstream in(path);
  SPINESCAN_CHECK(in, path, ": cannot read the manifest");
  std::vector<ManifestEntry> entries;
  std::set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#' || (number == 1 && line.rfind("name\t", 0) == 0)) continue;
    const size_t tab = line.find('\t');
    SPINESCAN_CHECK(tab != std::string::npos && tab > 0 && tab + 1 < line.size(), path, ":", number,
                    ": expected NAME<TAB>PATH");
    ManifestEntry e{line.substr(0, tab), line.substr(tab + 1)};
    SPINESCAN_CHECK(is_safe_name(e.name), path, ":", number, ": name '", e.name,
                    "' may hold only letters, digits, '.', '_' and '-' (it names a report folder)");
    SPINESCAN_CHECK(names.insert(e.name).second, path, ":", number, ": name '", e.name, "' is used twice");
    if (std::filesystem::path(e.study).is_relative()) e.study = (std::filesystem::path(path).parent_path() / e.study).string();
    entries.push_back(e);
  }
  SPINESCAN_CHECK(!entries.empty(), path, ": the manifest lists no study");
  return entries;
}

// Which shard of an array job this process is: --shard-index/--shard-count, else Slurm's
// array variables (index counted from the array's first task), else Kubernetes' Indexed Job
// (JOB_COMPLETION_INDEX; the count from --shard-count or SPINESCAN_SHARD_COUNT). {0, 1}
// when none is set: one process does everything.
std::pair<int, int> shard_of(int index, int count) {
  const auto env_int = [](const char* name, int* out) {
    const char* v = std::getenv(name);
    if (!v || !*v) return false;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    SPINESCAN_CHECK_AS(end && *end == '\0' && x >= 0 && x < (1 << 30), ConfigError, "environment variable ", name, "='", v,
                       "' is not a non-negative integer");
    *out = static_cast<int>(x);
    return true;
  };
  if (index < 0) {
    int task = 0, first = 0;
    if (env_int("SLURM_ARRAY_TASK_ID", &task)) {
      env_int("SLURM_ARRAY_TASK_MIN", &first);
      index = task - first;
      if (count <= 0) env_int("SLURM_ARRAY_TASK_COUNT", &count);
    } else if (env_int("JOB_COMPLETION_INDEX", &task)) {
      index = task;
      if (count <= 0) env_int("SPINESCAN_SHARD_COUNT", &count);
      SPINESCAN_CHECK_AS(count > 0, ConfigError, "JOB_COMPLETION_INDEX is set: give the number of shards with --shard-count or SPINESCAN_SHARD_COUNT");
    } else {
      index = 0;
    }
  }
  if (count <= 0) count = 1;
  SPINESCAN_CHECK_AS(index >= 0 && index < count, ConfigError, "shard index ", index, " is outside 0..", count - 1);
  return {index, count};
}

// `model_load_ms` >= 0: the first study's timing line also says how long loading the models took.
// `dicom_out` not empty: also write SEG, SR and secondary captures there (pacs/dicom_results.h).
void analyze_one(pipeline::Analyzer& analyzer, const std::string& study_path, const ReadOptions& ro, const std::string& out,
                 const std::string& dicom_out, double model_load_ms) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  auto t0 = started;
  // Before any work: the DICOM results need the source's UIDs and geometry.
  if (!dicom_out.empty())
    SPINESCAN_CHECK(detect_format(study_path) == "DICOM", study_path, ": --dicom-out needs a DICOM series folder as input (this is ",
                    detect_format(study_path), "); analyse it without --dicom-out");
  const LoadedStudy study = load_study(study_path, ro);
  const double read_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  pipeline::StudyAnalysis result = analyzer.analyze(study);
  result.timing_ms.insert(result.timing_ms.begin(), {"read", read_ms});
  t0 = Clock::now();
  pipeline::write_report(out, result, analyzer.model_description());
  // A study the models were not made for: the report says "not analysed" and why, and the
  // study counts as bad input.
  if (!result.refusal.empty()) throw DataError(study_path + ": not analysed: " + result.refusal + " (" + out + "/report.html)");
  std::string timing;
  if (model_load_ms >= 0) timing += " model load " + std::to_string(static_cast<int>(model_load_ms)) + " ms,";
  for (const auto& [stage, ms] : result.timing_ms) timing += " " + stage + " " + std::to_string(static_cast<int>(ms)) + " ms,";
  const auto ms_since = [](Clock::time_point t) {
    return std::to_string(static_cast<int>(std::chrono::duration<double, std::milli>(Clock::now() - t).count()));
  };
  // bench/run_analyze_bench.sh reads this line: the stages, then the study's whole wall time.
  const std::string report_ms = ms_since(t0);
  std::string dicom_note;
  if (!dicom_out.empty()) {
    const auto dicom_started = Clock::now();
    const auto files = pacs::write_dicom_results(result, analyzer.model_description(), dicom_out);
    timing += " dicom out " + ms_since(dicom_started) + " ms,";
    dicom_note = "; DICOM SEG, SR and " + std::to_string(files.captures.size()) + " secondary capture(s) in " + dicom_out;
  }
  log_info("timing:" + timing + " report " + report_ms + " ms, total " + ms_since(started) + " ms");
  int flagged = 0;
  for (const auto& v : result.vertebrae) {
    flagged += v.pathological;
    char p[16] = "-";
    if (v.probability >= 0) std::snprintf(p, sizeof p, "%.2f", v.probability);
    std::printf("%-4s (level confidence %.2f)  p %s%s\n", v.level.empty() ? "?" : v.level.c_str(), v.level_confidence, p,
                v.pathological ? "  FLAGGED" : "");
  }
  for (const auto& w : result.warnings) std::printf("warning: %s\n", w.c_str());
  std::printf("%zu vertebrae, %d flagged (p >= %.2f, %s); wrote %s/report.html and report.json%s\n", result.vertebrae.size(), flagged,
              result.threshold, result.probability_source.c_str(), out.c_str(), dicom_note.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_analyze(CLI::App& app, Runner& run) {
  struct Args {
    std::vector<std::string> studies;
    std::string model = default_model_path(), out, series, device = "cpu", dicom_out, manifest;
    bool keep_identifiers = false;
    int shard_index = -1, shard_count = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("analyze", "Find, name and classify every vertebra of a study; write report.json and report.html");
  cmd->add_option("study", a->studies,
                  "DICOM series folder, .nii/.nii.gz, .mha/.mhd or .nrrd; several: one report each, in --out/study_001, "
                  "study_002, ... in the order given (with --keep-identifiers: --out/NAME, NAME the file name without its "
                  "extension or the DICOM folder's name, the folder holding the file where two files share a name)");
  cmd->add_option("--manifest", a->manifest,
                  "studies.tsv: one study per line, NAME<TAB>PATH; reports go to --out/NAME. Studies already reported are "
                  "skipped, a bad study is logged and the rest go on; with --shard-index/--shard-count (or a Slurm array, or a "
                  "Kubernetes Indexed Job) this process takes every N-th study");
  cmd->add_option("--shard-index", a->shard_index, "this shard, 0..N-1 (default: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN, "
                                                   "else $JOB_COMPLETION_INDEX, else 0)");
  cmd->add_option("--shard-count", a->shard_count, "number of shards N (default: $SLURM_ARRAY_TASK_COUNT, else "
                                                   "$SPINESCAN_SHARD_COUNT, else 1)");
  cmd->add_option("--out", a->out, "report folder (created, or a previous report replaced); with several studies, "
                                   "the folder that holds their report folders")
      ->required();
  cmd->add_option("--dicom-out", a->dicom_out,
                  "also write the results as DICOM into the source study (a DICOM series input only): seg.dcm (one "
                  "segment per vertebra), sr.dcm (TID 1500 Comprehensive SR) and sc_N.dcm (key slices, labels burned in), "
                  "in this folder; with several studies, one folder per study inside it, named as the report folders");
  cmd->add_option("--model", a->model, "model bundle ($SPINESCAN_MODEL, else the shipped one)");
  cmd->add_option("--series", a->series,
                  "when the DICOM folder holds several series: the series' number in the list a failed read gives, or its "
                  "SeriesInstanceUID");
  cmd->add_flag("--keep-identifiers", a->keep_identifiers,
                "name batch report folders after the studies' files, and let messages show study paths and DICOM series "
                "UIDs and descriptions (left out by default: they often identify the patient)");
  cmd->add_option("--device", a->device, "cpu, cuda or auto");
  cmd->callback([&run, a] {
    run = [a] {
      // Several studies share one process: starting it (libtorch, about 1 s here) and
      // loading the models are paid once.
      struct Job {
        std::string study, out, label;  // label: how messages name the study
      };
      std::vector<Job> jobs;
      SPINESCAN_CHECK_AS(a->manifest.empty() != a->studies.empty(), ConfigError,
                         a->manifest.empty() ? "give a study to analyse, or --manifest" : "give either studies or --manifest, not both");
      const bool from_manifest = !a->manifest.empty();
      if (from_manifest) {
        const auto [index, count] = shard_of(a->shard_index, a->shard_count);
        const auto entries = read_manifest(a->manifest);
        for (size_t i = static_cast<size_t>(index); i < entries.size(); i += static_cast<size_t>(count))
          jobs.push_back({entries[i].study, (std::filesystem::path(a->out) / entries[i].name).string(), entries[i].name});
        std::printf("shard %d of %d: %zu of the manifest's %zu studies\n", index + 1, count, jobs.size(), entries.size());
      } else {
        SPINESCAN_CHECK_AS(a->shard_index < 0 && a->shard_count <= 0, ConfigError, "--shard-index and --shard-count need --manifest");
      }
      const bool batch = from_manifest || a->studies.size() > 1;
      if (from_manifest) {
        // named by the manifest
      } else if (!batch) {
        jobs.push_back({a->studies[0], a->out, "the study"});
      } else if (!a->keep_identifiers) {
        // By number: a study's file or folder name often holds the patient's name or record number.
        const int width = std::max<int>(3, static_cast<int>(std::to_string(a->studies.size()).size()));
        std::set<std::string> seen;
        for (size_t i = 0; i < a->studies.size(); ++i) {
          const std::string number = std::to_string(i + 1);
          const std::string name = "study_" + std::string(static_cast<size_t>(width) - number.size(), '0') + number;
          SPINESCAN_CHECK_AS(seen.insert(a->studies[i]).second, ConfigError, "study ", i + 1, " is given twice");
          jobs.push_back({a->studies[i], (std::filesystem::path(a->out) / name).string(), "study " + number});
        }
      } else {
        // Named after the file; where two files share a name (image.nii.gz in every case
        // folder of our dataset format), after the folder holding each.
        std::map<std::string, int> uses;
        for (const auto& study : a->studies) ++uses[report_name(study)];
        std::map<std::string, std::string> study_of;  // report name -> study
        for (size_t i = 0; i < a->studies.size(); ++i) {
          const std::string& study = a->studies[i];
          std::string name = report_name(study);
          if (uses[name] > 1) name = report_name(std::filesystem::path(study).lexically_normal().parent_path().string());
          SPINESCAN_CHECK_AS(!name.empty(), ConfigError, "cannot name a report folder after '", study, "'");
          const auto [it, fresh] = study_of.emplace(name, study);
          SPINESCAN_CHECK_AS(fresh, ConfigError, "two studies would share the report folder ", name, ": ", it->second, " and ", study,
                             " (analyze them separately)");
          jobs.push_back({study, (std::filesystem::path(a->out) / name).string(), "study " + std::to_string(i + 1)});
        }
      }
      pipeline::AnalyzerOptions options;
      options.device = a->device;
      const auto load_started = std::chrono::steady_clock::now();
      pipeline::Analyzer analyzer(a->model, options);
      const double model_load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - load_started).count();
      ReadOptions ro;
      ro.series_uid = a->series;
      ro.keep_identifiers = a->keep_identifiers;
      int failed = 0, skipped = 0;
      bool first = true;
      for (const Job& job : jobs) {
        const std::string name = std::filesystem::path(job.out).filename().string();
        if (batch) std::printf("== %s\n", name.c_str());
        const std::string dicom_out =
            a->dicom_out.empty() ? "" : batch ? (std::filesystem::path(a->dicom_out) / name).string() : a->dicom_out;
        // A manifest run is idempotent: what a previous run (or another attempt of this
        // shard) reported is done. Reports and DICOM folders appear whole or not at all.
        if (from_manifest && std::filesystem::exists(std::filesystem::path(job.out) / "report.json") &&
            (dicom_out.empty() || std::filesystem::exists(std::filesystem::path(dicom_out) / "sr.dcm"))) {
          std::printf("already reported; skipped\n");
          ++skipped;
          continue;
        }
        try {
          analyze_one(analyzer, job.study, ro, job.out, dicom_out, first ? model_load_ms : -1);
          first = false;
        } catch (const ConfigError&) {
          throw;  // the same mistake would repeat for every study
        } catch (const Error& e) {
          // The message names the study by number (or its manifest name) unless identifiers
          // are kept: its path may hold the patient's name. A batch goes on past a bad study;
          // the exit code says that one failed.
          std::fflush(stdout);
          std::cerr << "spinescan: error: " << (a->keep_identifiers ? e.what() : redact_path(e.what(), job.study, job.label)) << "\n";
          ++failed;
        }
      }
      if (batch)
        std::printf("%zu of %zu studies analysed%s; reports in %s\n", jobs.size() - failed - skipped, jobs.size(),
                    skipped ? (", " + std::to_string(skipped) + " already reported").c_str() : "", a->out.c_str());
      return failed ? kDataProblem : kOk;
    };
  });
}

}  // namespace spinescan::cli
