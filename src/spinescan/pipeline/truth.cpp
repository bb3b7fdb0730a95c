#include "spinescan/pipeline/truth.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <tuple>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"

namespace spinescan::pipeline {

CaseTruth load_case_truth(const Dataset& dataset, const std::string& case_name) {
  const CaseEntry& entry = dataset.case_named(case_name);
  const Volume<uint16_t> labels = to_canonical(read_label_volume(entry.labels));
  CaseTruth truth;
  truth.spacing_mm = labels.spacing_mm;
  truth.boxes_per_slice = boxes_per_slice(labels, 1);
  std::map<int, bool> present;
  for (const auto& slice : truth.boxes_per_slice)
    for (const auto& b : slice) present[b.label] = true;
  for (const auto& row : dataset.rows_of(case_name)) {
    if (!present.count(row.label)) continue;
    truth.bodies.push_back({row.label, row.level, row.pathological ? (*row.pathological ? 1 : 0) : -1});
  }
  return truth;
}

std::vector<int> match_tracks_to_truth(const std::vector<aggregate::Track>& tracks, const CaseTruth& truth, double min_overlap) {
  std::vector<std::tuple<double, size_t, int>> pairs;  // (overlap, track, label)
  for (size_t t = 0; t < tracks.size(); ++t) {
    std::map<int, double> overlap;
    for (const auto& b : tracks[t].boxes) {
      if (b.slice < 0 || b.slice >= static_cast<int>(truth.boxes_per_slice.size())) continue;
      for (const auto& g : truth.boxes_per_slice[static_cast<size_t>(b.slice)])
        overlap[g.label] += ops::iou(b.box, g.box);
    }
    for (const auto& [label, sum] : overlap) {
      const double mean = sum / tracks[t].boxes.size();
      if (mean >= min_overlap) pairs.emplace_back(mean, t, label);
    }
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  std::vector<int> match(tracks.size(), 0);
  std::map<int, bool> taken;
  for (const auto& [overlap, t, label] : pairs) {
    if (match[t] != 0 || taken[label]) continue;
    match[t] = label;
    taken[label] = true;
  }
  return match;
}

std::vector<VertebraRecord> vertebra_records(const StudyAnalysis& a, const CaseTruth& truth, const std::string& case_name) {
  std::vector<aggregate::Track> tracks;
  for (const auto& v : a.vertebrae) tracks.push_back(v.track);
  const std::vector<int> match = match_tracks_to_truth(tracks, truth);
  std::map<int, const TruthBody*> body_of;
  for (const auto& b : truth.bodies) body_of[b.label] = &b;
  std::vector<VertebraRecord> out;
  std::map<int, bool> found;
  const bool count_warned = levels::count_warned(a.level_warnings);
  for (size_t i = 0; i < a.vertebrae.size(); ++i) {
    const auto& v = a.vertebrae[i];
    VertebraRecord r;
    r.case_name = case_name;
    r.found = true;
    r.truth_label = match[i];
    if (match[i] != 0 && body_of.count(match[i])) {
      r.truth_level = body_of[match[i]]->level;
      r.target = body_of[match[i]]->target;
      found[match[i]] = true;
    }
    r.level = v.level;
    r.level_confidence = v.level_confidence;
    r.count_warned = count_warned;
    r.probability = std::max(0.0, v.probability);
    r.max_probability = std::max(0.0, v.evidence.max);
    r.evidence_slice = v.evidence.evidence_slice;
    r.from_bottom = static_cast<int>(a.vertebrae.size() - 1 - i);
    r.features = v.features;
    for (const auto& b : v.track.boxes) r.track.boxes.push_back({b.slice, b.box, b.score, -1, -1, {}, {}});
    out.push_back(std::move(r));
  }
  for (const auto& b : truth.bodies) {
    if (found.count(b.label)) continue;
    VertebraRecord r;
    r.case_name = case_name;
    r.truth_label = b.label;
    r.truth_level = b.level;
    r.target = b.target;
    r.count_warned = count_warned;
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json VertebraRecord::to_json() const {
  nlohmann::json f = nlohmann::json::array();
  for (double x : features) f.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
  nlohmann::json boxes = nlohmann::json::array();
  for (const auto& b : track.boxes) boxes.push_back({b.slice, b.box.x1, b.box.y1, b.box.x2, b.box.y2, b.score});
  return {{"case", case_name}, {"fold", fold}, {"truth_label", truth_label}, {"truth_level", truth_level}, {"target", target},
          {"found", found}, {"level", level}, {"level_confidence", level_confidence}, {"count_warned", count_warned}, {"probability", probability},
          {"max_probability", max_probability}, {"evidence_slice", evidence_slice}, {"from_bottom", from_bottom}, {"features", f},
          {"boxes", boxes}};
}

std::vector<VertebraRecord> cached_records(const std::filesystem::path& file, const nlohmann::json& key,
                                           const std::function<std::vector<VertebraRecord>()>& compute) {
  if (std::filesystem::exists(file)) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    if (nlohmann::json::parse(line, nullptr, false) == key) {
      std::vector<VertebraRecord> records;
      while (std::getline(in, line))
        if (!line.empty()) records.push_back(VertebraRecord::from_json(nlohmann::json::parse(line)));
      log_info("re-using " + std::to_string(records.size()) + " vertebra records from " + file.string());
      return records;
    }
  }
  std::vector<VertebraRecord> records = compute();
  std::string text = key.dump() + "\n";
  for (const auto& r : records) text += r.to_json().dump() + "\n";
  if (!file.parent_path().empty()) std::filesystem::create_directories(file.parent_path());
  write_text_atomically(file, text);
  return records;
}

VertebraRecord VertebraRecord::from_json(const nlohmann::json& j) {
  VertebraRecord r;
  r.case_name = j.at("case").get<std::string>();
  r.fold = j.value("fold", -1);
  r.truth_label = j.value("truth_label", 0);
  r.truth_level = j.value("truth_level", "");
  r.target = j.value("target", -1);
  r.found = j.value("found", false);
  r.level = j.value("level", "");
  r.level_confidence = j.value("level_confidence", 0.0);
  r.count_warned = j.value("count_warned", false);
  r.probability = j.value("probability", 0.0);
  r.max_probability = j.value("max_probability", 0.0);
  r.evidence_slice = j.value("evidence_slice", -1);
  r.from_bottom = j.value("from_bottom", -1);
  for (const auto& x : j.value("features", nlohmann::json::array()))
    r.features.push_back(x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>());
  for (const auto& b : j.value("boxes", nlohmann::json::array()))
    r.track.boxes.push_back({b.at(0).get<int>(), {b.at(1).get<double>(), b.at(2).get<double>(), b.at(3).get<double>(), b.at(4).get<double>()},
                             b.at(5).get<double>(), -1, -1, {}, {}});
  return r;
}

std::vector<eval::SliceResult> detection_slices(const StudyAnalysis& a, const CaseTruth& truth, const std::string& case_name) {
  std::map<int, int> target_of;
  for (const auto& b : truth.bodies) target_of[b.label] = b.target;
  const double pixel_mm2 = truth.spacing_mm[0] * truth.spacing_mm[1];
  const double min_body_mm2 = detect::SliceDataOptions{}.min_body_area_mm2;  // as `evaluate detector`
  std::vector<eval::SliceResult> out(truth.boxes_per_slice.size());
  for (size_t k = 0; k < out.size(); ++k) {
    out[k].case_name = case_name;
    out[k].slice = static_cast<int>(k);
    for (const auto& g : truth.boxes_per_slice[k])
      out[k].truth.push_back({g.box, target_of.count(g.label) && target_of[g.label] == 1, g.area_px * pixel_mm2 < min_body_mm2});
  }
  for (const auto& d : a.detections)
    if (d.slice >= 0 && d.slice < static_cast<int>(out.size())) out[static_cast<size_t>(d.slice)].predictions.push_back({d.box, d.score});
  return out;
}

}  // namespace spinescan::pipeline
