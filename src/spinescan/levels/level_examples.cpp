#include "spinescan/levels/level_examples.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "spinescan/aggregate/features.h"
#include "spinescan/aggregate/levels.h"

namespace spinescan::levels {

using namespace pipeline;

aggregate::Track one_step_below(const aggregate::Track& lowest, const aggregate::Track& above_it) {
  const double dx = lowest.centre_x() - above_it.centre_x();
  const double dy = lowest.centre_y() - above_it.centre_y();
  aggregate::Track below = lowest;
  for (auto& b : below.boxes) b.box.x1 += dx, b.box.x2 += dx, b.box.y1 += dy, b.box.y2 += dy;
  return below;
}

bool centre_in_image(const aggregate::Track& t, const Volume<float>& v) {
  return t.centre_y() < static_cast<double>(v.size[1]) && t.centre_x() >= 0 && t.centre_x() < static_cast<double>(v.size[0]);
}

std::vector<LabelledTrack> ground_truth_column(const classify::ClassifierData& data, size_t case_index) {
  std::map<int, LabelledTrack> by_label;
  for (const auto& s : data.samples) {
    if (s.case_index != static_cast<int>(case_index) || s.level.empty()) continue;
    auto& t = by_label[s.label];
    t.track.boxes.push_back({s.slice, s.box.x1, s.box.y1, s.box.x2, s.box.y2, 1.0, -1, -1, {}, {}});
    t.level = s.level;
  }
  std::vector<LabelledTrack> column;
  for (auto& [label, t] : by_label) {
    std::sort(t.track.boxes.begin(), t.track.boxes.end(), [](const auto& a, const auto& b) { return a.slice < b.slice; });
    column.push_back(std::move(t));
  }
  std::sort(column.begin(), column.end(), [](const auto& a, const auto& b) { return a.track.centre_y() < b.track.centre_y(); });
  return column;
}

std::optional<LowestAndBelow> lowest_and_below(const classify::ClassifierData& data, size_t case_index) {
  const auto column = ground_truth_column(data, case_index);
  if (column.size() < 2) return std::nullopt;
  LowestAndBelow out;
  out.lowest = column.back().track;
  out.below = one_step_below(out.lowest, column[column.size() - 2].track);
  out.below_inside = centre_in_image(out.below, data.cases[case_index].normalized);
  return out;
}

LowestLevelExamples ground_truth_lowest_examples(const classify::ClassifierData& data) {
  LowestLevelExamples out;
  for (size_t ci = 0; ci < data.cases.size(); ++ci) {
    const std::vector<LabelledTrack> tracks = ground_truth_column(data, ci);
    if (tracks.size() < 2) continue;
    std::vector<aggregate::Track> column;
    for (const auto& t : tracks) column.push_back(t.track);
    const Volume<float>& v = data.cases[ci].normalized;

    const std::string& lowest_level = tracks.back().level;
    auto add = [&](const std::vector<aggregate::Track>& found, const std::string& level) {
      out.features.push_back(aggregate::vertebra_features(found, v).back());
      out.levels.push_back(level);
      out.cases.push_back(data.cases[ci].name);
    };
    add(column, lowest_level);
    // The detector missed the lowest labelled body: the one above is the lowest found.
    if (column.size() >= 3) add(std::vector<aggregate::Track>(column.begin(), column.end() - 1), tracks[tracks.size() - 2].level);

    // The detector boxed the unlabelled body below as well.
    const std::string below_level = aggregate::level_above(lowest_level, -1);
    if (below_level.empty()) continue;
    aggregate::Track below = one_step_below(column.back(), column[column.size() - 2]);
    // Features use the part inside the image, as for a detector box at the edge.
    if (!centre_in_image(below, v)) continue;
    column.push_back(std::move(below));
    add(column, below_level);
  }
  return out;
}

std::vector<std::string> image_level_cue_names() {
  // The box below is a copy of the lowest body's boxes: its size, shape and slice count (and
  // so its ratios to the neighbour above, exactly 1) would tell the examples apart by how they
  // were made, not by anything a detector's box shows. Every ground-truth box has score 1.
  static const std::vector<std::string> copied = {"slices",   "score_mean",        "score_min",
                                                  "height_mm", "depth_mm",         "height_over_depth",
                                                  "height_vs_neighbours", "depth_vs_neighbours", "slice_height_over_width"};
  std::vector<std::string> names;
  for (const auto& n : aggregate::level_cue_feature_names())
    if (std::find(copied.begin(), copied.end(), n) == copied.end()) names.push_back(n);
  return names;
}

CaseRecords group_by_case(const std::vector<VertebraRecord>& records) {
  CaseRecords by_case;
  for (const auto& r : records) by_case[r.case_name].push_back(&r);
  return by_case;
}

LowestFound lowest_found(const std::vector<const VertebraRecord*>& case_records) {
  LowestFound out;
  const VertebraRecord* nearest_named = nullptr;  // the lowest found vertebra with a known level
  for (const auto* r : case_records) {
    if (!r->found) continue;
    if (r->from_bottom == 0) out.record = r;
    if (!r->truth_level.empty() && (!nearest_named || r->from_bottom < nearest_named->from_bottom)) nearest_named = r;
  }
  // A lowest body that is no labelled body (S1 where the sacrum is not labelled) still has a
  // level: counted down from the nearest labelled one.
  if (nearest_named) out.true_level = aggregate::level_above(nearest_named->truth_level, -nearest_named->from_bottom);
  return out;
}

aggregate::LowestCues lowest_cues(const LowestFound& lowest) {
  return aggregate::lowest_body_cues(aggregate::vertebra_feature_names(), lowest.record->features, lowest.record->level_net_logit);
}

std::string lowest_level_of_case(const aggregate::LevelModel& model, const std::vector<const VertebraRecord*>& case_records) {
  const LowestFound lowest = lowest_found(case_records);
  if (!lowest.record) return model.lowest_level;
  const auto cues = lowest_cues(lowest);
  return model.lowest_for(cues.names, cues.values);
}

std::vector<std::string> score_level_cue_names() { return {"score_mean"}; }

namespace {

// Rows of `features` whose level is `usual` (y 0) or `other` (y 1), their `cues` columns (rows
// with a missing cue left out); empty unless each level has at least 3 rows.
struct PairRows {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
};
PairRows pair_rows(const std::vector<std::string>& names, const std::vector<std::vector<double>>& features,
                   const std::vector<std::string>& levels, const std::vector<std::string>& cues, const std::string& usual,
                   const std::string& other) {
  PairRows rows;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (levels[i] != usual && levels[i] != other) continue;
    std::vector<double> row = aggregate::LevelModel::columns(cues, names, features[i]);
    if (std::any_of(row.begin(), row.end(), [](double v) { return std::isnan(v); })) continue;
    rows.x.push_back(std::move(row));
    rows.y.push_back(levels[i] == other ? 1 : 0);
  }
  const int n_other = static_cast<int>(std::count(rows.y.begin(), rows.y.end(), 1));
  if (n_other < 3 || static_cast<int>(rows.y.size()) - n_other < 3) return {};
  return rows;
}

}  // namespace

aggregate::LevelModel learn_levels(const std::vector<VertebraRecord>& records, const std::vector<std::string>& cases,
                                   const LowestLevelExamples& ground_truth, double default_alternative_rate,
                                   const nlohmann::json& level_net) {
  CaseRecords by_case = group_by_case(records);
  const std::vector<std::string> names = aggregate::lowest_cue_names(aggregate::vertebra_feature_names());
  std::vector<std::vector<double>> lowest_features;
  std::vector<std::string> lowest_levels;
  for (const auto& name : cases) {
    const LowestFound lowest = lowest_found(by_case[name]);
    if (!lowest.record || lowest.true_level.empty()) continue;
    lowest_features.push_back(lowest_cues(lowest).values);
    lowest_levels.push_back(lowest.true_level);
  }
  // The two levels the head picks between: the one the detector's lowest body usually is, and
  // the other one its records show in at least 3 cases or, when they do not, the level below it
  // (the detector boxing the unlabelled body there on new studies).
  std::map<std::string, int> votes;
  for (const auto& l : lowest_levels) ++votes[l];
  std::vector<std::pair<int, std::string>> ranked;
  for (const auto& [level, n] : votes) ranked.push_back({n, level});
  std::sort(ranked.rbegin(), ranked.rend());
  aggregate::LevelModel model;
  if (!ranked.empty()) model.lowest_level = ranked[0].second;
  const std::string usual = model.lowest_level;
  const std::string other = ranked.size() >= 2 && ranked[1].first >= 3 ? ranked[1].second : aggregate::level_above(usual, -1);
  const PairRows examples =
      pair_rows(aggregate::vertebra_feature_names(), ground_truth.features, ground_truth.levels, image_level_cue_names(), usual, other);
  if (!examples.y.empty()) {
    model.alternative_level = other;
    model.head_cues = image_level_cue_names();
    // The net answers one question: is the lowest body the one below the lowest labelled
    // level? It is no evidence for another pair (e.g. L4 when detectors often miss L5).
    if (other == aggregate::level_above(usual, -1)) model.level_net = level_net;
    model.head.fit(examples.x, examples.y);
    // How often the lowest found body is the other level on studies the detector did not
    // train on: the records say when they show it (out-of-fold detectors), else the caller.
    const auto seen = std::count(lowest_levels.begin(), lowest_levels.end(), other);
    model.alternative_rate = seen >= 3 ? static_cast<double>(seen) / static_cast<double>(lowest_levels.size()) : default_alternative_rate;
    // The score head on the records' lowest bodies: only out-of-fold records show the
    // detector's scores on the body below.
    const PairRows found = seen >= 3 ? pair_rows(names, lowest_features, lowest_levels, score_level_cue_names(), usual, other) : PairRows{};
    if (!found.y.empty()) {
      model.score_cues = score_level_cue_names();
      model.score_head.fit(found.x, found.y);
    }
    int right = 0;
    for (size_t i = 0; i < examples.x.size(); ++i) right += (model.head.predict(examples.x[i]) > 0.5) == (examples.y[i] == 1);
    model.head_training_accuracy = static_cast<double>(right) / static_cast<double>(examples.x.size());  // balanced, before the prior
  }  // else too few ground-truth examples of one of the two levels: always the usual level
  int right = 0, counted = 0;
  for (const auto& name : cases) {
    const std::string lowest = lowest_level_of_case(model, by_case[name]);
    bool all_right = true, any = false;
    for (const auto* r : by_case[name]) {
      if (!r->found || r->truth_label == 0 || r->truth_level.empty()) continue;
      any = true;
      all_right = all_right && aggregate::level_above(lowest, r->from_bottom) == r->truth_level;
    }
    if (any) ++counted, right += all_right ? 1 : 0;
  }
  // Laplace's rule of succession: 10 of 10 right is not certainty.
  model.confidence = (right + 1.0) / (counted + 2.0);
  return model;
}

void name_records(const aggregate::LevelModel& model, std::vector<VertebraRecord>* records) {
  std::map<std::string, std::string> lowest;
  for (const auto& [name, rs] : group_by_case(*records)) lowest[name] = lowest_level_of_case(model, rs);
  for (auto& r : *records)
    if (r.found) r.level = aggregate::level_above(lowest[r.case_name], r.from_bottom);
}

}  // namespace spinescan::levels
