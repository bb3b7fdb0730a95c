#include "spinescan/detect/evaluate.h"

#include <torch/torch.h>

#include <map>
#include <set>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/inference.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/io/png.h"

namespace fs = std::filesystem;

namespace spinescan::detect {
namespace {

nlohmann::json summary_json(const eval::DetectionSummary& d) {
  return {{"mean_iou", d.mean_iou},
          {"mean_iou_pathological", d.mean_iou_pathological},
          {"recall_at_50", d.recall_at_50},
          {"precision_at_50", d.precision_at_50},
          {"ap50", d.ap50},
          {"ap50_95", d.ap50_95},
          {"false_positives_per_slice", d.false_positives_per_slice},
          {"num_slices", d.num_slices},
          {"num_bodies", d.num_truth},
          {"num_bodies_pathological", d.num_truth_pathological},
          {"num_detections", d.num_predictions},
          {"true_positives", d.true_positives},
          {"false_positives", d.false_positives}};
}

void write_overlay(const fs::path& path, const CanvasSlice& s, const std::vector<eval::Prediction>& preds, double score,
                   int size) {
  const int zoom = 2;  // 256 px canvases are small on a screen
  RgbImage image(size * zoom, size * zoom);
  for (int y = 0; y < size * zoom; ++y)
    for (int x = 0; x < size * zoom; ++x) {
      const auto v = static_cast<uint8_t>(std::clamp(s.image[static_cast<size_t>(y / zoom) * size + x / zoom], 0.0f, 1.0f) * 255);
      image.set(x, y, v, v, v);
    }
  for (const auto& g : s.truth)
    image.draw_rect(static_cast<int>(g.box.x1 * zoom), static_cast<int>(g.box.y1 * zoom), static_cast<int>(g.box.x2 * zoom) - 1,
                    static_cast<int>(g.box.y2 * zoom) - 1, g.ignore ? 0 : 40, g.ignore ? 120 : 220, 60, 1);
  for (const auto& p : preds)
    if (p.score >= score)
      image.draw_rect(static_cast<int>(p.box.x1 * zoom) - 1, static_cast<int>(p.box.y1 * zoom) - 1,
                      static_cast<int>(p.box.x2 * zoom), static_cast<int>(p.box.y2 * zoom), 255, 140, 0, 1);
  write_png(path, image);
}

}  // namespace

std::string evaluate_detector(const DetectorEvalConfig& c) {
  const Dataset dataset = load_dataset(c.data);
  std::vector<std::string> cases = c.cases;
  if (cases.empty() && !c.split.empty()) {
    const Splits s = Splits::load(c.split);
    SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(s.folds.size()), ConfigError, "--fold ", c.fold,
                       " not in ", c.split);
    cases = s.folds[static_cast<size_t>(c.fold)].val;
  }
  if (cases.empty())
    for (const auto& e : dataset.cases) cases.push_back(e.name);
  const torch::Device device = parse_device(c.device);
  LoadedDetector detector = load_detector(c.model, device);
  const double score = c.operating_score >= 0 ? c.operating_score : detector.spec.operating_score;
  SliceDataOptions data_options;
  data_options.canvas = detector.spec.canvas;
  const int size = detector.spec.canvas.size;

  std::vector<eval::SliceResult> all;
  std::vector<std::string> result_case;  // case of each entry of `all`
  nlohmann::json per_case = nlohmann::json::array();
  fs::create_directories(fs::path(c.out) / "overlays");
  int overlays_written = 0;
  Progress progress("evaluate", static_cast<int64_t>(cases.size()), "cases");
  size_t done = 0;
  for (const auto& name : cases) {
    const auto slices = load_canvas_slices(dataset, {name}, data_options);
    const auto results = detect_canvas_slices(detector.net, slices, size, device);
    const auto d = eval::summarize_detection(results, score);
    per_case.push_back({{"case", name},
                        {"slices", d.num_slices},
                        {"bodies", d.num_truth},
                        {"mean_iou", d.mean_iou},
                        {"recall_at_50", d.recall_at_50},
                        {"precision_at_50", d.precision_at_50},
                        {"false_positives_per_slice", d.false_positives_per_slice}});
    if (overlays_written < c.overlays && !slices.empty()) {
      const size_t mid = slices.size() / 2;
      write_overlay(fs::path(c.out) / "overlays" / (name + "_slice" + std::to_string(slices[mid].slice) + ".png"), slices[mid],
                    results[mid].predictions, score, size);
      ++overlays_written;
    }
    all.insert(all.end(), results.begin(), results.end());
    result_case.insert(result_case.end(), results.size(), name);
    progress.update(static_cast<int64_t>(++done));
  }
  progress.finish();
  // Slices through the bodies (the headline numbers) and all slices (false positives on
  // slices beyond the bodies count there).
  std::vector<eval::SliceResult> through;
  std::map<std::string, std::vector<eval::SliceResult>> through_by_source;
  for (size_t i = 0; i < all.size(); ++i) {
    bool any = false;
    for (const auto& g : all[i].truth) any |= !g.ignore;
    if (!any) continue;
    through.push_back(all[i]);
    through_by_source[case_source(result_case[i])].push_back(all[i]);
  }
  // Per source (site, scanner): a detector that holds on one scanner and not on another shows
  // here, where the pooled numbers would average it away.
  nlohmann::json per_source = nlohmann::json::object();
  for (const auto& [source, results] : through_by_source) per_source[source] = summary_json(eval::summarize_detection(results, score));
  const nlohmann::json metrics = {
      {"model", c.model},
      {"data", c.data},
      {"cases", cases},
      {"operating_score", score},
      {"min_body_area_mm2", data_options.min_body_area_mm2},
      {"detection", summary_json(eval::summarize_detection(through, score))},
      {"detection_all_slices", summary_json(eval::summarize_detection(all, score))},
      {"per_source", per_source},
      {"per_case", per_case}};
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(fs::path(c.out) / "metrics.json", text);
  return text;
}

}  // namespace spinescan::detect
