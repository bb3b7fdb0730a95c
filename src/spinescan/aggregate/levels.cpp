#include "spinescan/aggregate/levels.h"

#include <algorithm>
#include <cmath>

#include "spinescan/data/dataset.h"

namespace spinescan::aggregate {

std::string level_above(const std::string& level, int steps) {
  // Cranial-first order of the names a lumbar study can hold; transitional T13/L6 are left
  // out on purpose: counting cannot know they are there, the warnings say so instead.
  static const std::vector<std::string> order = {"T1", "T2", "T3", "T4",  "T5",  "T6", "T7", "T8", "T9", "T10", "T11",
                                                 "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5"};
  const auto it = std::find(order.begin(), order.end(), level);
  if (it == order.end()) return "";
  const auto index = (it - order.begin()) - steps;
  if (index < 0 || index >= static_cast<std::ptrdiff_t>(order.size())) return "";
  return order[static_cast<size_t>(index)];
}

std::vector<NamedLevel> name_levels(const std::vector<Track>& tracks, const LevelModel& model, const LevelContext& context,
                                    std::vector<std::string>* warnings) {
  std::vector<NamedLevel> out(tracks.size());
  if (tracks.empty()) return out;
  double confidence = model.confidence;
  const TrackedBox& lowest = tracks.back().largest();
  // The lowest body touches the bottom edge of the image: it may not be the lowest one there is.
  if (context.rows > 0 && (context.rows - lowest.y2) * context.row_mm < 3.0) {
    if (warnings) warnings->push_back("the field of view cuts the lowest vertebra: levels are counted from it and may be off");
    confidence *= 0.5;
  }
  // A lowest body much lower than those above it (a sacralised L5 or an S1 the detector took
  // for a lumbar body) or more than the usual count of lumbar bodies hints at transitional anatomy.
  if (tracks.size() >= 4) {
    auto height = [](const Track& t) { return t.largest().y2 - t.largest().y1; };
    const size_t n = tracks.size();
    const double above = (height(tracks[n - 2]) + height(tracks[n - 3]) + height(tracks[n - 4])) / 3;
    if (height(tracks[n - 1]) < 0.65 * above) {
      if (warnings)
        warnings->push_back("the lowest vertebra is unusually low (" + std::to_string(static_cast<int>(100 * height(tracks[n - 1]) / above)) +
                            " % of the three above): possible transitional vertebra (sacralised L5 / S1), check the level names");
      confidence *= 0.6;
    }
  }
  for (size_t i = 0; i < tracks.size(); ++i) {
    const int steps = static_cast<int>(tracks.size() - 1 - i);
    out[i].level = level_above(model.lowest_level, steps);
    // Each step up adds a chance of a missed or doubled body; 2 % a step, from the
    // detector's per-body recall.
    out[i].confidence = out[i].level.empty() ? 0 : confidence * std::pow(0.98, steps);
  }
  return out;
}

}  // namespace spinescan::aggregate
