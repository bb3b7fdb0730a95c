#pragma once
// What `spinescan analyze` writes: report.json (machine-readable), report.html (one
// self-contained page: key sagittal slices with every vertebra boxed and named, a table by
// level, the model and its limits) and the overlay PNGs the page shows.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "spinescan/io/png.h"
#include "spinescan/ops/box.h"
#include "spinescan/pipeline/analyze.h"

namespace spinescan::pipeline {

// The report.json layout this code writes (report_json's "report_format"). 2: every box is an
// object {x1, y1, x2, y2} (3D boxes add z1, z2) in ops/box.h's pixel-edge convention, far edges
// exclusive; format 1 wrote arrays for slice boxes and {x0, x1, ...} for 3D ones.
inline constexpr int kReportFormat = 2;

nlohmann::json report_json(const StudyAnalysis& analysis, const nlohmann::json& model);

// A box as report.json and `detect` write it: {x1, y1, x2, y2}, scaled (pixels to mm) by
// scale_x and scale_y, to 0.1.
nlohmann::json box_json(const ops::Box& box, double scale_x = 1, double scale_y = 1);

// The slices the report shows: the one crossing the most vertebrae (most central on ties),
// then the evidence slices of the pathological vertebrae, most probable first (at most 4 in all).
std::vector<int> key_slices(const StudyAnalysis& analysis);

// A key slice as pixels with every vertebra boxed and its name, probability and verdict
// written beside the box (for pictures that leave the tool without the HTML page's labels:
// DICOM secondary captures).
RgbImage render_labelled_slice(const StudyAnalysis& analysis, int slice);

// Builds the report in "<out>.partial-<pid>" and renames it onto `out`, so a failure leaves
// no half-written report. `out` may be absent, empty, or a previous report (replaced).
void write_report(const std::filesystem::path& out, const StudyAnalysis& analysis, const nlohmann::json& model);

// Standard base64 (RFC 4648) of bytes, for images embedded in the HTML.
std::string base64(const std::vector<uint8_t>& bytes);

}  // namespace spinescan::pipeline
