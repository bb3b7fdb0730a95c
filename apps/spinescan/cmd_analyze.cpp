// spinescan analyze STUDY: the main job. Vertebrae found, named and classified, with a
// report a radiologist can check (report.json, report.html, overlay PNGs).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "spinescan/core/logging.h"
#include "spinescan/pipeline/analyze.h"
#include "spinescan/pipeline/report.h"

namespace spinescan::cli {

void register_analyze(CLI::App& app, Runner& run) {
  struct Args {
    std::string study, model = default_model_path(), out, series, device = "cpu";
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("analyze", "Find, name and classify every vertebra of a study; write report.json and report.html");
  cmd->add_option("study", a->study, "DICOM series folder, .nii/.nii.gz, .mha/.mhd or .nrrd")->required();
  cmd->add_option("--out", a->out, "report folder (created, or a previous report replaced)")->required();
  cmd->add_option("--model", a->model, "model bundle ($SPINESCAN_MODEL, else the shipped one)");
  cmd->add_option("--series", a->series, "SeriesInstanceUID when the DICOM folder holds several series");
  cmd->add_option("--device", a->device, "cpu, cuda or auto");
  cmd->callback([&run, a] {
    run = [a] {
      pipeline::AnalyzerOptions options;
      options.device = a->device;
      pipeline::Analyzer analyzer(a->model, options);
      ReadOptions ro;
      ro.series_uid = a->series;
      using Clock = std::chrono::steady_clock;
      auto t0 = Clock::now();
      const LoadedStudy study = load_study(a->study, ro);
      const double read_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      pipeline::StudyAnalysis result = analyzer.analyze(study);
      result.timing_ms.insert(result.timing_ms.begin(), {"read", read_ms});
      t0 = Clock::now();
      pipeline::write_report(a->out, result, analyzer.model_description());
      std::string timing;
      for (const auto& [stage, ms] : result.timing_ms) timing += " " + stage + " " + std::to_string(static_cast<int>(ms)) + " ms,";
      log_info("timing:" + timing + " report " +
               std::to_string(static_cast<int>(std::chrono::duration<double, std::milli>(Clock::now() - t0).count())) + " ms");
      int flagged = 0;
      for (const auto& v : result.vertebrae) {
        flagged += v.pathological;
        char p[16] = "-";
        if (v.probability >= 0) std::snprintf(p, sizeof p, "%.2f", v.probability);
        std::printf("%-4s (level confidence %.2f)  p %s%s\n", v.level.empty() ? "?" : v.level.c_str(), v.level_confidence, p,
                    v.pathological ? "  FLAGGED" : "");
      }
      for (const auto& w : result.warnings) std::printf("warning: %s\n", w.c_str());
      std::printf("%zu vertebrae, %d flagged (p >= %.2f, %s); wrote %s/report.html and report.json\n", result.vertebrae.size(), flagged,
                  result.threshold, result.probability_source.c_str(), a->out.c_str());
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
