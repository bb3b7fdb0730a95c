#include "spinescan/pipeline/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <map>
#include <sstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/io/png.h"

namespace spinescan::pipeline {

namespace fs = std::filesystem;

namespace {

double round_to(double x, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(x * f) / f;
}

ops::Box enclosing_box(const aggregate::Track& t) {
  ops::Box b = t.boxes.front().box;
  for (const auto& x : t.boxes) b = ops::enclosing(b, x.box);
  return b;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fixed(double x, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << x;
  return s.str();
}

// Display geometry of a canonical slice: square pixels on screen, at least ~512 px tall or wide.
struct Display {
  double zoom = 1, aspect = 1;
  int width = 0, height = 0;
};

Display display_of(const Volume<float>& v) {
  Display d;
  const int cols = static_cast<int>(v.size[0]), rows = static_cast<int>(v.size[1]);
  d.zoom = std::max(1.0, 512.0 / std::max(cols, rows));
  d.aspect = v.spacing_mm[1] / v.spacing_mm[0];
  d.width = static_cast<int>(cols * d.zoom);
  d.height = static_cast<int>(rows * d.zoom * d.aspect);
  return d;
}

struct Colour {
  uint8_t r, g, b;
  std::string css() const {
    std::ostringstream s;
    s << "rgb(" << int(r) << "," << int(g) << "," << int(b) << ")";
    return s.str();
  }
};
constexpr Colour kPathological{255, 60, 40}, kHealthy{60, 200, 90}, kUnclassified{120, 170, 255};

Colour colour_of(const VertebraFinding& v) {
  if (v.probability < 0) return kUnclassified;
  return v.pathological ? kPathological : kHealthy;
}

// The slice as a PNG with each vertebra's box drawn (its box on this slice, or its largest
// box, thinner, when it does not reach this slice). Labels are drawn by the HTML's SVG.
RgbImage render_slice(const StudyAnalysis& a, int slice) {
  const auto& v = a.normalized;
  const Display d = display_of(v);
  const int cols = static_cast<int>(v.size[0]), rows = static_cast<int>(v.size[1]);
  RgbImage image(d.width, d.height);
  for (int y = 0; y < d.height; ++y)
    for (int x = 0; x < d.width; ++x) {
      const int sx = std::min(cols - 1, static_cast<int>(x / d.zoom));
      const int sy = std::min(rows - 1, static_cast<int>(y / d.zoom / d.aspect));
      const auto g = static_cast<uint8_t>(std::clamp(v.at(sx, sy, slice), 0.0f, 1.0f) * 255);
      image.set(x, y, g, g, g);
    }
  for (const auto& f : a.vertebrae) {
    const aggregate::TrackedBox* b = f.track.on_slice(slice);
    const int thickness = b ? 2 : 1;
    if (!b) b = &f.track.largest();
    const Colour c = colour_of(f);
    image.draw_rect(static_cast<int>(b->box.x1 * d.zoom), static_cast<int>(b->box.y1 * d.zoom * d.aspect),
                    static_cast<int>(b->box.x2 * d.zoom) - 1, static_cast<int>(b->box.y2 * d.zoom * d.aspect) - 1, c.r, c.g, c.b,
                    thickness);
  }
  return image;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  SPINESCAN_CHECK(in, p.string(), ": cannot read back");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string vertebra_label(const VertebraFinding& f, size_t index) {
  std::string name = f.level.empty() ? "#" + std::to_string(index + 1) : f.level;
  if (f.probability >= 0) name += " " + fixed(f.probability, 2);
  return name;
}

// "NIfTI, 512 x 640 x 23 voxels, spacing 0.47 x 0.47 x 1.00 mm, orientation LPS (sagittal)", HTML-escaped.
std::string study_sentence(const StudyInfo& info) {
  std::ostringstream out;
  out << html_escape(info.format) << ", " << info.size_voxels[0] << " x " << info.size_voxels[1] << " x " << info.size_voxels[2]
      << " voxels, spacing " << fixed(info.spacing_mm[0], 2) << " x " << fixed(info.spacing_mm[1], 2) << " x "
      << fixed(info.spacing_mm[2], 2) << " mm, orientation " << html_escape(info.orientation_code) << " ("
      << html_escape(info.acquisition_plane) << ")";
  return out.str();
}

// The page's opening up to <body>: the dark page and warning box every report page uses,
// then `extra_css`.
std::string page_head(const std::string& title, const std::string& extra_css) {
  return "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>" + html_escape(title) +
         "</title><style>body{font-family:sans-serif;margin:1.5em;background:#111;color:#eee;max-width:1400px}"
         ".warn{background:#4a3b00;padding:.5em 1em;border-radius:4px}" +
         extra_css + "</style></head><body>\n";
}

}  // namespace

std::string base64(const std::vector<uint8_t>& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int k = 3; k >= 0; --k) out += alphabet[(n >> (6 * k)) & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t n = bytes[i] << 16;
    out += alphabet[(n >> 18) & 63], out += alphabet[(n >> 12) & 63], out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += alphabet[(n >> 18) & 63], out += alphabet[(n >> 12) & 63], out += alphabet[(n >> 6) & 63], out += '=';
  }
  return out;
}

RgbImage render_labelled_slice(const StudyAnalysis& a, int slice) {
  RgbImage image = render_slice(a, slice);
  const Display d = display_of(a.normalized);
  constexpr int kScale = 2, kLineHeight = 7 * kScale + 4;
  // At the bottom: the top holds the highest body's label.
  image.draw_text(4, image.height - kLineHeight, "spinescan: check every finding", 255, 255, 255, kScale);
  for (size_t i = 0; i < a.vertebrae.size(); ++i) {
    const VertebraFinding& f = a.vertebrae[i];
    const aggregate::TrackedBox* b = f.track.on_slice(slice);
    if (!b) b = &f.track.largest();
    const std::string text = vertebra_label(f, i) + (f.pathological ? " flagged" : "");
    const Colour c = colour_of(f);
    // Beside the box, on the posterior side (the bodies' anterior edges line up with the
    // image's left, so there is room behind them); inside the image when it would leave it.
    int x = static_cast<int>(b->box.x2 * d.zoom) + 4;
    if (x + RgbImage::text_width(text, kScale) > image.width) x = std::max(0, image.width - RgbImage::text_width(text, kScale));
    const int y = static_cast<int>(b->box.centre_y() * d.zoom * d.aspect) - kLineHeight / 2;
    image.draw_text(x, y, text, c.r, c.g, c.b, kScale);
  }
  return image;
}

std::vector<int> key_slices(const StudyAnalysis& a) {
  const int num_slices = static_cast<int>(a.normalized.size[2]);
  std::vector<int> crossing(static_cast<size_t>(num_slices), 0);
  for (const auto& f : a.vertebrae)
    for (const auto& b : f.track.boxes) ++crossing[static_cast<size_t>(b.slice)];
  const double middle = (num_slices - 1) / 2.0;
  int best = static_cast<int>(std::lround(middle));
  for (int k = 0; k < num_slices; ++k)
    if (crossing[k] > crossing[best] || (crossing[k] == crossing[best] && std::abs(k - middle) < std::abs(best - middle))) best = k;
  std::vector<int> slices = {best};
  std::vector<const VertebraFinding*> flagged;
  for (const auto& f : a.vertebrae)
    if (f.pathological) flagged.push_back(&f);
  std::sort(flagged.begin(), flagged.end(), [](auto* x, auto* y) { return x->probability > y->probability; });
  for (const auto* f : flagged)
    if (slices.size() < 4 && std::find(slices.begin(), slices.end(), f->evidence.evidence_slice) == slices.end())
      slices.push_back(f->evidence.evidence_slice);
  return slices;
}

nlohmann::json box_json(const ops::Box& box, double scale_x, double scale_y) {
  return {{"x1", round_to(box.x1 * scale_x, 1)}, {"y1", round_to(box.y1 * scale_y, 1)},
          {"x2", round_to(box.x2 * scale_x, 1)}, {"y2", round_to(box.y2 * scale_y, 1)}};
}

nlohmann::json report_json(const StudyAnalysis& a, const nlohmann::json& model) {
  const auto& v = a.normalized;
  const auto& sp = v.spacing_mm;
  nlohmann::json vertebrae = nlohmann::json::array();
  int flagged = 0;
  double max_probability = -1;
  for (size_t i = 0; i < a.vertebrae.size(); ++i) {
    const auto& f = a.vertebrae[i];
    // A body not judged (no classifier, or below the levels the models learnt) shows no
    // classifier numbers either: they would read as a verdict.
    const bool judged = f.probability >= 0;
    // The box holding the track's boxes, on its slices z1 <= slice < z2.
    const ops::Box extent = enclosing_box(f.track);
    const int z1 = f.track.first_slice(), z2 = f.track.last_slice() + 1;
    nlohmann::json box_voxels = box_json(extent), box_mm = box_json(extent, sp[0], sp[1]);
    box_voxels["z1"] = z1, box_voxels["z2"] = z2;
    box_mm["z1"] = round_to(z1 * sp[2], 1), box_mm["z2"] = round_to(z2 * sp[2], 1);
    nlohmann::json slices = nlohmann::json::array();
    for (const auto& x : f.track.boxes) {
      nlohmann::json s = {{"slice", x.slice}, {"box_pixels", box_json(x.box)},
                          {"detector_score", round_to(x.score, 3)}};
      if (judged && x.probability >= 0) s["classifier_probability"] = round_to(x.probability, 4);
      slices.push_back(s);
    }
    nlohmann::json entry = {
        {"index", i},
        {"level", f.level.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.level)},
        {"level_confidence", round_to(f.level_confidence, 3)},
        {"probability", f.probability < 0 ? nlohmann::json(nullptr) : nlohmann::json(round_to(f.probability, 4))},
        {"pathological", f.pathological},
        {"box_voxels", box_voxels},
        {"box_mm", box_mm},
        {"evidence_slice", f.evidence.evidence_slice},
        {"max_slice_probability", !judged || f.evidence.max < 0 ? nlohmann::json(nullptr) : nlohmann::json(round_to(f.evidence.max, 4))},
        {"slices", slices}};
    vertebrae.push_back(entry);
    flagged += f.pathological ? 1 : 0;
    max_probability = std::max(max_probability, f.probability);
  }
  const auto& info = a.info;
  nlohmann::json timing = nlohmann::json::object();
  for (const auto& [stage, ms] : a.timing_ms) timing[stage] = round_to(ms, 1);
  const bool refused = !a.refusal.empty();
  return {
      {"report_format", kReportFormat},
      {"status", refused ? "not analysed" : "analysed"},
      {"not_analysed_because", refused ? nlohmann::json(a.refusal) : nlohmann::json(nullptr)},
      {"study", {{"format", info.format}, {"size", info.size_voxels}, {"spacing_mm", info.spacing_mm},
                 {"orientation", info.orientation_code}, {"acquisition_plane", info.acquisition_plane}}},
      {"canonical", {{"slices", v.size[2]}, {"rows", v.size[1]}, {"cols", v.size[0]},
                     {"spacing_mm", {{"col", sp[0]}, {"row", sp[1]}, {"slice", sp[2]}}},
                     {"slices_not_examined", a.slices_not_examined},
                     {"axes", "x = column (anterior->posterior), y = row (superior->inferior), z = slice (patient left->right); "
                              "boxes are pixel edges: {x1, y1, z1} the near edges, {x2, y2, z2} the far ones (exclusive)"}}},
      {"model", model},
      {"probability_source", a.probability_source},
      {"threshold", a.threshold},
      {"vertebrae", vertebrae},
      {"summary", {{"num_vertebrae", a.vertebrae.size()}, {"num_pathological", flagged},
                   {"max_probability", max_probability < 0 ? nlohmann::json(nullptr) : nlohmann::json(round_to(max_probability, 4))}}},
      {"warnings", a.warnings},
      {"column", a.column.to_json()},
      {"out_of_distribution", {{"score", std::isfinite(a.ood_score) ? nlohmann::json(round_to(a.ood_score, 3)) : nlohmann::json(nullptr)},
                               {"threshold", a.ood_threshold > 0 ? nlohmann::json(round_to(a.ood_threshold, 3)) : nlohmann::json(nullptr)},
                               {"classifier_features_score", std::isfinite(a.ood_embedding_score) ? nlohmann::json(round_to(a.ood_embedding_score, 3)) : nlohmann::json(nullptr)},
                               {"classifier_features_threshold", a.ood_embedding_threshold > 0 ? nlohmann::json(round_to(a.ood_embedding_threshold, 3)) : nlohmann::json(nullptr)},
                               {"verdicts_withheld", a.verdicts_withheld}}},
      {"timing_ms", timing}};
}

void write_report(const fs::path& out, const StudyAnalysis& a, const nlohmann::json& model_description) {
  const nlohmann::json model = model_description.is_object() ? model_description : nlohmann::json::object();
  if (fs::exists(out))
    SPINESCAN_CHECK_AS(fs::is_directory(out) && (fs::is_empty(out) || fs::exists(out / "report.json")), ConfigError, out.string(),
                       ": exists and is neither empty nor a previous report; choose another folder");
  StagedDirectory staged(out, /*overwrite=*/true);
  const fs::path dir = staged.path();
  const nlohmann::json report = report_json(a, model);
  auto publish = [&](const std::string& html) {
    write_text_atomically(dir / "report.html", html);
    write_text_atomically(dir / "report.json", report.dump(2) + "\n");
    staged.commit();
  };
  if (!a.refusal.empty()) {
    // Nothing was judged: the page says so and why, and shows no picture that could be read
    // as a finding.
    std::ostringstream html;
    html << page_head("spinescan: not analysed", "") << "<h1>spinescan: not analysed</h1>\n<p class='warn'>" << html_escape(a.refusal) << ".</p>\n"
         << "<p>spinescan reads sagittal MRI of the lumbar spine; no vertebra of this study is reported. Study: "
         << study_sentence(a.info) << ".</p>\n</body></html>\n";
    publish(html.str());
    return;
  }

  const Display d = display_of(a.normalized);
  std::ostringstream figures;
  fs::create_directories(dir / "overlays");
  const std::vector<int> slices = key_slices(a);
  for (int slice : slices) {
    const std::string name = "overlays/slice_" + std::to_string(slice) + ".png";
    write_png(dir / name, render_slice(a, slice));
    figures << "<figure><svg viewBox='0 0 " << d.width << " " << d.height << "' width='" << d.width << "' height='" << d.height
            << "' role='img'><image width='" << d.width << "' height='" << d.height << "' href='data:image/png;base64,"
            << base64(read_bytes(dir / name)) << "'/>";
    for (size_t i = 0; i < a.vertebrae.size(); ++i) {
      const auto& f = a.vertebrae[i];
      const aggregate::TrackedBox* b = f.track.on_slice(slice);
      if (!b) b = &f.track.largest();
      // Names sit anterior to the body (left), where there is soft tissue, not anatomy to read.
      const double x = b->box.x1 * d.zoom - 6, y = b->box.centre_y() * d.zoom * d.aspect + 5;
      figures << "<text x='" << fixed(x, 1) << "' y='" << fixed(y, 1) << "' text-anchor='end' fill='" << colour_of(f).css()
              << "' class='" << (f.pathological ? "flag" : "ok") << "'>" << html_escape(vertebra_label(f, i)) << "</text>";
    }
    figures << "</svg><figcaption>sagittal slice " << slice << " of " << a.normalized.size[2]
            << (slice == slices.front() ? " (most vertebrae)" : " (strongest evidence of a flagged vertebra)")
            << "</figcaption></figure>\n";
  }

  std::ostringstream rows;
  for (size_t i = 0; i < a.vertebrae.size(); ++i) {
    const auto& f = a.vertebrae[i];
    const auto& big = f.track.largest();
    rows << "<tr class='" << (f.pathological ? "flag" : "") << "'><td>" << html_escape(f.level.empty() ? "?" : f.level) << "</td><td>"
         << fixed(f.level_confidence, 2) << "</td><td>" << (f.probability < 0 ? "-" : fixed(f.probability, 2)) << "</td><td>"
         << (f.probability < 0 ? "not classified" : f.pathological ? "<b>flagged</b>" : "no finding") << "</td><td>"
         << f.track.boxes.size() << " (" << f.track.first_slice() << "-" << f.track.last_slice() << ")</td><td>"
         << f.evidence.evidence_slice << "</td><td>" << fixed(big.box.height() * a.normalized.spacing_mm[1], 1) << " x "
         << fixed(big.box.width() * a.normalized.spacing_mm[0], 1) << "</td></tr>\n";
  }
  std::ostringstream warnings;
  for (const auto& w : a.warnings) warnings << "<li>" << html_escape(w) << "</li>";
  const auto& summary = report["summary"];
  std::ostringstream html;
  html << page_head("spinescan report",
                    "figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}figcaption{color:#aaa;font-size:90%}"
                    "svg text{font-size:18px;font-weight:bold;paint-order:stroke;stroke:#000;stroke-width:3px}"
                    "table{border-collapse:collapse}td,th{border:1px solid #555;padding:3px 9px;text-align:right}"
                    "tr.flag td{background:#5a1a14}.limits{color:#bbb;font-size:90%;max-width:60em}")
       << "<h1>spinescan: vertebrae found " << summary["num_vertebrae"] << ", flagged " << summary["num_pathological"] << "</h1>\n"
       << "<p>Study: " << study_sentence(a.info) << ". Probability: " << html_escape(a.probability_source)
       << ", flagged at p &ge; " << fixed(a.threshold, 2) << ".</p>\n";
  if (!a.warnings.empty()) html << "<div class='warn'><b>Warnings</b><ul>" << warnings.str() << "</ul></div>\n";
  html << figures.str()
       << "<h2>By level (superior to inferior)</h2><table><tr><th>level</th><th>level confidence</th><th>p(pathological)</th>"
          "<th>verdict</th><th>slices</th><th>evidence slice</th><th>height x depth (mm)</th></tr>\n"
       << rows.str() << "</table>\n"
       << "<h2>Model</h2><p>" << html_escape(model.value("name", std::string("?"))) << ", spinescan "
       << html_escape(model.value("version", std::string("?"))) << " (" << html_escape(model.value("revision", std::string("?")))
       << "); classifier " << html_escape(model.value("classifier", std::string("none"))) << ", aggregator "
       << html_escape(model.value("aggregator", std::string("none"))) << ".</p>\n"
       << "<p class='limits'>This report assists a radiologist; it is not a diagnosis. "
       << html_escape(model.value("limits", std::string("Read the model card for what the model was trained on and where it fails."))) << "</p>\n"
       << "</body></html>\n";
  publish(html.str());
}

}  // namespace spinescan::pipeline
