// spinescan info STUDY: what was read, and the canonical sagittal volume it becomes.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "spinescan/core/logging.h"
#include "spinescan/io/normalize.h"
#include "spinescan/io/png.h"
#include "spinescan/io/study_reader.h"

namespace spinescan::cli {
namespace {

struct InfoArgs {
  std::string study;
  std::string series;
  bool json = false;
  std::string snapshot;
  bool keep_identifiers = false;
};

template <class T>
std::string triple(const std::array<T, 3>& a, const char* sep = " x ") {
  std::ostringstream o;
  o << a[0] << sep << a[1] << sep << a[2];
  return o.str();
}

int run_info(const InfoArgs& args) {
  ReadOptions options;
  options.series_uid = args.series;
  options.keep_identifiers = args.keep_identifiers;
  const LoadedStudy s = load_study(args.study, options);
  const StudyInfo& i = s.info;
  const auto& c = s.canonical;
  if (args.json) {
    nlohmann::json j = {{"format", i.format},
                        {"pixel_type", i.pixel_type},
                        {"size_voxels", i.size_voxels},
                        {"spacing_mm", i.spacing_mm},
                        {"origin_lps_mm", i.origin_lps},
                        {"direction", i.direction},
                        {"orientation", i.orientation_code},
                        {"obliquity_deg", i.obliquity_deg},
                        {"acquisition_plane", i.acquisition_plane},
                        {"canonical",
                         {{"slices", c.size[2]},
                          {"rows", c.size[1]},
                          {"cols", c.size[0]},
                          {"spacing_mm", {{"slice", c.spacing_mm[2]}, {"row", c.spacing_mm[1]}, {"col", c.spacing_mm[0]}}}}}};
    if (args.keep_identifiers) j["path"] = i.path;
    if (i.format == "DICOM") {
      if (args.keep_identifiers) {
        j["series_uid"] = i.series_uid;
        j["series_description"] = i.series_description;
      }
      j["series_in_folder"] = i.num_series_in_folder;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    if (args.keep_identifiers) std::cout << "file:               " << i.path << "\n";
    std::cout << "format:             " << i.format << " (" << i.pixel_type << ")\n";
    if (i.format == "DICOM") {
      std::cout << "series:             ";
      if (args.keep_identifiers) std::cout << i.series_uid << " '" << i.series_description << "' ";
      std::cout << "(" << i.num_series_in_folder << " series in folder)\n";
    }
    std::cout << "size (voxels):      " << triple(i.size_voxels) << "\n"
              << "spacing (mm):       " << triple(i.spacing_mm) << "\n"
              << "origin (mm, LPS):   " << triple(i.origin_lps, ", ") << "\n"
              << "direction:          " << std::fixed << std::setprecision(4);
    for (int r = 0; r < 3; ++r) {
      std::array<double, 3> row = i.direction[r];
      for (double& x : row) x += 0.0;  // prints -0 as 0
      std::cout << (r ? " | " : "") << triple(row, " ");
    }
    std::cout << std::defaultfloat << std::setprecision(6) << "\n"
              << "orientation:        " << i.orientation_code << " (obliquity " << std::setprecision(3) << i.obliquity_deg
              << " deg; acquired " << i.acquisition_plane << ")\n"
              << std::setprecision(6) << "canonical sagittal: " << c.size[2] << " slices (L->R) x " << c.size[1]
              << " rows (S->I) x " << c.size[0] << " cols (A->P); spacing " << c.spacing_mm[2] << " x "
              << c.spacing_mm[1] << " x " << c.spacing_mm[0] << " mm\n";
  }
  if (i.obliquity_deg > 10)
    log_warning("the volume is oblique by " + std::to_string(i.obliquity_deg) +
                " degrees; it is mapped to the nearest patient axes without resampling");
  if (i.acquisition_plane == "axial" || i.acquisition_plane == "coronal")
    log_warning("acquired " + i.acquisition_plane + ", not sagittal: sagittal slices are reformatted (not a sagittal T2 study?)");
  if (!args.snapshot.empty()) {
    const Volume<float> n = normalize_intensity(c);
    const int64_t k = c.size[2] / 2, plane = c.size[0] * c.size[1];
    std::vector<float> slice(n.voxels.begin() + k * plane, n.voxels.begin() + (k + 1) * plane);
    write_png(args.snapshot, grey_to_rgb(slice, static_cast<int>(c.size[0]), static_cast<int>(c.size[1])));
    log_info("wrote the middle sagittal slice (" + std::to_string(k) + ") to " + args.snapshot);
  }
  return kOk;
}

}  // namespace

void register_info(CLI::App& app, Runner& run) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Print what a study holds: format, size, spacing, direction, orientation");
  cmd->add_option("study", args->study, "DICOM series folder, .nii/.nii.gz, .mha/.mhd or .nrrd")->required();
  cmd->add_option("--series", args->series,
                  "when the DICOM folder holds several series: its number in the list a failed read gives, or its SeriesInstanceUID");
  cmd->add_flag("--json", args->json, "print JSON instead of text");
  cmd->add_flag("--keep-identifiers", args->keep_identifiers,
                "show the path and the DICOM series UID and description (left out by default: they often identify the patient)");
  cmd->add_option("--snapshot", args->snapshot, "write the middle canonical sagittal slice to this PNG");
  cmd->callback([&run, args] {
    run = [args] { return without_identifiers(args->study, args->keep_identifiers, [&] { return run_info(*args); }); };
  });
}

}  // namespace spinescan::cli
