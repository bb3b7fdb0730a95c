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
#include "spinescan/detect/slice_linking.h"
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

// Where each body instance lies: its cross-section on this slice against the body's largest
// (a lateral slice cuts a body's side, a central one its middle), and its level. Misses on a
// new scanner are read from these groups: lateral slices are absent from SPIDER's export.
struct InstanceGroups {
  std::vector<std::vector<std::string>> section, level;  // [slice][truth]
};

std::string cross_section_group(double fraction_of_largest) {
  if (fraction_of_largest >= 0.75) return "75-100 % of the body's largest section";
  if (fraction_of_largest >= 0.5) return "50-75 %";
  if (fraction_of_largest >= 0.25) return "25-50 %";
  return "under 25 %";
}

void add_instance_groups(const std::vector<CanvasSlice>& slices, const std::vector<VertebraRow>& rows, InstanceGroups& g) {
  // A body too small to reach the canvas on any slice has share 0; its truth is ignored anyway.
  const auto shares = section_shares(slices);
  std::map<int, std::string> level_of;
  for (const auto& r : rows) level_of[r.label] = r.level.empty() ? "unknown" : r.level;
  for (size_t i = 0; i < slices.size(); ++i) {
    std::vector<std::string> section, level;
    for (size_t t = 0; t < slices[i].truth_labels.size(); ++t) {
      const int label = slices[i].truth_labels[t];
      section.push_back(cross_section_group(shares[i][t]));
      level.push_back(level_of.count(label) ? level_of[label] : "unknown");
    }
    g.section.push_back(std::move(section));
    g.level.push_back(std::move(level));
  }
}

// Summaries of the bodies of each group: the others are set aside as ignored, so a prediction on
// them is neither a hit nor a false positive.
nlohmann::json summaries_by_group(const std::vector<eval::SliceResult>& results, const std::vector<std::vector<std::string>>& group,
                                  double score) {
  std::set<std::string> names;
  for (const auto& slice : group) names.insert(slice.begin(), slice.end());
  nlohmann::json out = nlohmann::json::object();
  for (const auto& name : names) {
    std::vector<eval::SliceResult> only = results;
    for (size_t i = 0; i < only.size(); ++i)
      for (size_t j = 0; j < only[i].truth.size(); ++j) only[i].truth[j].ignore |= group[i][j] != name;
    const auto d = eval::summarize_detection(only, score);
    if (d.num_truth) out[name] = {{"mean_iou", d.mean_iou}, {"recall_at_50", d.recall_at_50}, {"num_bodies", d.num_truth}};
  }
  return out;
}

// One case's results with the detector's slice linking applied: candidates between the linked
// and the operating score that no neighbouring slice confirms are dropped (the others, and the
// candidates under the linked score, stay: the latter only count in AP).
std::vector<eval::SliceResult> linked(std::vector<eval::SliceResult> results, const SliceLinking& linking) {
  std::vector<std::vector<eval::Prediction>> per_slice;
  for (size_t k = 0; k < results.size(); ++k) {
    SPINESCAN_CHECK(results[k].slice == static_cast<int>(k), "slice linking needs every slice of a case in order");
    per_slice.push_back(results[k].predictions);
  }
  const auto kept = link_across_slices(per_slice, linking);
  const double floor = linking.floor_score();
  for (size_t k = 0; k < results.size(); ++k) {
    std::vector<eval::Prediction> stay;
    for (size_t i = 0; i < per_slice[k].size(); ++i)
      if (kept[k][i] || per_slice[k][i].score < floor) stay.push_back(per_slice[k][i]);
    results[k].predictions = std::move(stay);
  }
  return results;
}

}  // namespace

std::vector<std::string> int8_calibration_cases_not_evaluated(const LoadedDetector& detector,
                                                              const std::vector<std::string>& evaluated) {
  if (!detector.net->uses_int8()) return {};
  std::vector<std::string> calibration;
  try {
    calibration = detector.spec.int8.at("calibration").at("cases").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("detector manifest: int8 names no calibration cases: ") + e.what());
  }
  for (const auto& name : calibration)
    SPINESCAN_CHECK_AS(std::find(evaluated.begin(), evaluated.end(), name) == evaluated.end(), ConfigError,
                       "the detector's 8-bit ranges were recorded on ", name, ", which is also evaluated");
  return calibration;
}

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
  SliceLinking linking;
  linking.operating_score = c.operating_score >= 0 ? c.operating_score : detector.spec.operating_score;
  linking.linked_score = c.linked_score >= 0 ? c.linked_score : std::min(detector.spec.linked_score, linking.operating_score);
  SPINESCAN_CHECK_AS(linking.linked_score <= linking.operating_score, ConfigError, "--linked-score ", linking.linked_score,
                     " above the operating score ", linking.operating_score);
  const double score = linking.linked_score;  // every box reported scores at least this
  SliceDataOptions data_options;
  data_options.canvas = detector.spec.canvas;
  const int size = detector.spec.canvas.size;
  const auto int8_calibration_cases = int8_calibration_cases_not_evaluated(detector, cases);

  std::vector<std::vector<eval::SliceResult>> candidates_by_case;  // before linking
  std::vector<eval::SliceResult> all;
  std::vector<std::string> result_case;  // case of each entry of `all`
  InstanceGroups groups;                 // of each entry of `all`
  nlohmann::json per_case = nlohmann::json::array();
  fs::create_directories(fs::path(c.out) / "overlays");
  int overlays_written = 0;
  Progress progress("evaluate", static_cast<int64_t>(cases.size()), "cases");
  size_t done = 0;
  for (const auto& name : cases) {
    const auto slices = load_canvas_slices(dataset, {name}, data_options);
    candidates_by_case.push_back(detect_canvas_slices(detector.net, slices, detector.spec.canvas, device));
    const auto results = linked(candidates_by_case.back(), linking);
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
    add_instance_groups(slices, dataset.rows_of(name), groups);
    all.insert(all.end(), results.begin(), results.end());
    result_case.insert(result_case.end(), results.size(), name);
    progress.update(static_cast<int64_t>(++done));
  }
  progress.finish();
  // Slices through the bodies (the headline numbers) and all slices (false positives on
  // slices beyond the bodies count there).
  std::vector<size_t> through_index;
  for (size_t i = 0; i < all.size(); ++i) {
    bool any = false;
    for (const auto& g : all[i].truth) any |= !g.ignore;
    if (any) through_index.push_back(i);
  }
  const auto through_of = [&](const std::vector<eval::SliceResult>& results, const std::string& source) {
    std::vector<eval::SliceResult> out;
    for (const size_t i : through_index)
      if (source.empty() || case_source(result_case[i]) == source) out.push_back(results[i]);
    return out;
  };
  std::set<std::string> sources;
  for (const auto& name : cases) sources.insert(case_source(name));
  const auto sections_of = [&](const std::string& source) {
    std::vector<std::vector<std::string>> out;
    for (const size_t i : through_index)
      if (source.empty() || case_source(result_case[i]) == source) out.push_back(groups.section[i]);
    return out;
  };
  std::vector<std::vector<std::string>> through_levels;
  for (const size_t i : through_index) through_levels.push_back(groups.level[i]);
  // Per source (site, scanner): a detector that holds on one scanner and not on another shows
  // here, where the pooled numbers would average it away.
  nlohmann::json per_source = nlohmann::json::object();
  for (const auto& source : sources) {
    const auto results = through_of(all, source);
    per_source[source] = summary_json(eval::summarize_detection(results, score));
    per_source[source]["by_cross_section"] = summaries_by_group(results, sections_of(source), score);
  }
  // The same detector with other linked scores, to choose one on cases other than those it is
  // reported on (docs/model_card.md says which chose the shipped one).
  nlohmann::json sweep = nlohmann::json::array();
  for (const double linked_score : {1.0, 0.2, 0.15, 0.1, 0.05}) {
    SliceLinking l = linking;
    l.linked_score = std::min(linked_score, linking.operating_score);
    std::vector<eval::SliceResult> results;
    for (const auto& candidates : candidates_by_case) {
      const auto r = linked(candidates, l);
      results.insert(results.end(), r.begin(), r.end());
    }
    nlohmann::json row = {{"linked_score", l.linked_score}};
    for (const auto& source : sources) {
      const auto d = eval::summarize_detection(through_of(results, source), l.linked_score);
      row[source] = {{"mean_iou", d.mean_iou},
                     {"recall_at_50", d.recall_at_50},
                     {"precision_at_50", d.precision_at_50},
                     {"false_positives_per_slice", d.false_positives_per_slice}};
    }
    sweep.push_back(row);
  }
  const auto through = through_of(all, "");
  const nlohmann::json metrics = {
      {"model", c.model},
      {"data", c.data},
      {"cases", cases},
      {"operating_score", linking.operating_score},
      {"linked_score", linking.linked_score},
      {"detector_precision", detector.net->precision_name()},
      {"int8_calibration_cases", int8_calibration_cases},
      {"min_body_area_mm2", data_options.min_body_area_mm2},
      {"detection", summary_json(eval::summarize_detection(through, score))},
      {"detection_all_slices", summary_json(eval::summarize_detection(all, score))},
      {"per_source", per_source},
      {"by_cross_section", summaries_by_group(through, sections_of(""), score)},
      {"by_level", summaries_by_group(through, through_levels, score)},
      {"linked_score_sweep", sweep},
      {"per_case", per_case}};
  const std::string text = metrics.dump(2) + "\n";
  write_text_atomically(fs::path(c.out) / "metrics.json", text);
  return text;
}

}  // namespace spinescan::detect
