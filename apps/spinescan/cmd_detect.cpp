// spinescan detect STUDY: vertebral-body boxes on every sagittal slice (the detector alone).
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/logging.h"
#include "spinescan/detect/detect_study.h"
#include "spinescan/pipeline/report.h"

namespace spinescan::cli {

std::string default_model_path() {
  // $SPINESCAN_MODEL, else models/default under the working folder, else beside the
  // program (build/spinescan -> ../models/default), so the shipped model is found from anywhere.
  if (const char* env = std::getenv("SPINESCAN_MODEL")) return env;
  namespace fs = std::filesystem;
  if (fs::exists("models/default/manifest.json")) return "models/default";
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (const fs::path& candidate : {exe.parent_path().parent_path() / "models/default", exe.parent_path() / "models/default"})
      if (fs::exists(candidate / "manifest.json")) return candidate.string();
  return "models/default";
}

void register_detect(CLI::App& app, Runner& run) {
  struct Args {
    std::string study, model = default_model_path(), out, series, device = "cpu";
    bool keep_identifiers = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("detect", "Find vertebral bodies on every sagittal slice of a study (boxes + picture)");
  cmd->add_option("study", a->study, "DICOM series folder, .nii/.nii.gz, .mha/.mhd or .nrrd")->required();
  cmd->add_option("--model", a->model, "model bundle or training run folder ($SPINESCAN_MODEL, else the shipped one)");
  cmd->add_option("--out", a->out, "output folder (detections.json, overlay.png)")->required();
  cmd->add_option("--series", a->series,
                  "when the DICOM folder holds several series: its number in the list a failed read gives, or its SeriesInstanceUID");
  cmd->add_option("--device", a->device, "cpu, cuda or auto");
  cmd->add_flag("--keep-identifiers", a->keep_identifiers,
                "let messages show the study's path and DICOM series UIDs and descriptions (left out by default)");
  cmd->callback([&run, a] {
    run = [a] {
      ReadOptions ro;
      ro.series_uid = a->series;
      ro.keep_identifiers = a->keep_identifiers;
      const auto d = without_identifiers(a->study, a->keep_identifiers,
                                         [&] { return detect::detect_study(a->study, a->model, ro, a->device); });
      const auto& v = d.normalized;
      nlohmann::json boxes = nlohmann::json::array();
      std::vector<int> per_slice(static_cast<size_t>(v.size[2]), 0);
      for (const auto& b : d.detections) {
        ++per_slice[static_cast<size_t>(b.slice)];
        boxes.push_back({{"slice", b.slice},
                         {"box_pixels", pipeline::box_json(b.box)},
                         {"box_mm", pipeline::box_json(b.box, v.spacing_mm[0], v.spacing_mm[1])},
                         {"score", b.score},
                         {"linked", b.linked}});
      }
      // The picture shows the slice with the most bodies found, the most central one on ties.
      int best_slice = 0;
      const double middle = (v.size[2] - 1) / 2.0;
      for (int k = 1; k < static_cast<int>(per_slice.size()); ++k)
        if (per_slice[k] > per_slice[best_slice] ||
            (per_slice[k] == per_slice[best_slice] && std::abs(k - middle) < std::abs(best_slice - middle)))
          best_slice = k;
      const nlohmann::json j = {
          {"report_format", pipeline::kReportFormat},
          {"study", {{"format", d.info.format}, {"size", d.info.size_voxels}, {"spacing_mm", d.info.spacing_mm},
                     {"orientation", d.info.orientation_code}}},
          {"canonical", {{"slices", v.size[2]}, {"rows", v.size[1]}, {"cols", v.size[0]},
                         {"spacing_mm", {{"slice", v.spacing_mm[2]}, {"row", v.spacing_mm[1]}, {"col", v.spacing_mm[0]}}},
                         {"slices_not_examined", d.slices_not_examined}}},
          {"coordinates", "canonical pixels: x = column (anterior->posterior), y = row (superior->inferior); boxes are pixel edges, "
                          "{x1, y1} the near edges, {x2, y2} the far ones (exclusive)"},
          {"operating_score", d.operating_score},
          {"linked_score", d.linked_score},
          {"overlay_slice", best_slice},
          {"detections", boxes}};
      write_text_atomically(std::filesystem::path(a->out) / "detections.json", j.dump(2) + "\n");
      detect::write_detection_overlay(std::filesystem::path(a->out) / "overlay.png", d, best_slice);
      std::cout << d.detections.size() << " boxes on " << v.size[2] << " slices; most (" << per_slice[static_cast<size_t>(best_slice)]
                << ") on slice " << best_slice << "; wrote " << a->out << "/detections.json and overlay.png\n";
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
