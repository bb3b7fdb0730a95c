#include "spinescan/levels/decision.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace spinescan::levels {

LevelDecision decide_levels(const std::vector<aggregate::Track>& tracks, const aggregate::LevelModel& model,
                            const LevelEvidence& evidence) {
  const LevelNamingOptions& o = model.naming;
  LevelDecision d;
  d.names.assign(tracks.size(), "");
  d.confidences.assign(tracks.size(), 0.0);
  d.lowest_level = model.lowest_level;
  d.trained_down_to = model.lowest_level;
  d.alternative_level = model.alternative_level;
  d.net_logit = evidence.net_logit;
  d.net_ceiling = evidence.net_ceiling;
  if (tracks.empty()) return d;

  // Which level the lowest body is, and how sure: a head that could go either way caps the
  // confidence at its own certainty, and so does a level net reading near zero.
  double confidence = model.confidence;
  d.lowest_level = model.lowest_for(evidence.lowest.names, evidence.lowest.values);
  if (!model.alternative_level.empty())
    d.other_level = d.lowest_level == model.lowest_level ? model.alternative_level : model.lowest_level;
  d.p_alternative = model.alternative_probability(evidence.lowest.names, evidence.lowest.values);
  if (d.p_alternative >= 0) {
    confidence = std::min(confidence, std::max(d.p_alternative, 1 - d.p_alternative));
    d.doubt.head_unsure = d.p_alternative > o.unsure_p_low && d.p_alternative < o.unsure_p_high;
  }
  if (evidence.net_indecisive && std::isfinite(evidence.net_logit)) {
    d.doubt.net_indecisive = true;
    confidence = std::min(confidence, 1 / (1 + std::exp(-std::abs(evidence.net_logit))));
  }

  // The landmark the count starts from must be in view: a lowest body at the image's bottom
  // edge may have another below it.
  const aggregate::TrackedBox& lowest = tracks.back().largest();
  if (evidence.rows > 0 && (evidence.rows - lowest.box.y2) * evidence.row_mm < o.bottom_margin_mm) {
    d.warnings.push_back(LevelWarning::kFieldCutsLowest);
    confidence *= o.cut_lowest_confidence_factor;
  }
  // A lowest body much shorter than those above it: a sacralised L5, or an S1 taken for a
  // lumbar body.
  if (tracks.size() >= 4) {
    const auto height = [](const aggregate::Track& t) { return t.largest().box.height(); };
    const size_t n = tracks.size();
    const double above = (height(tracks[n - 2]) + height(tracks[n - 3]) + height(tracks[n - 4])) / 3;
    d.doubt.lowest_height_fraction = height(tracks[n - 1]) / above;
    if (height(tracks[n - 1]) < o.short_lowest_fraction * above) {
      d.doubt.short_lowest = true;
      confidence *= o.short_lowest_confidence_factor;
    }
  }
  if (d.doubt.head_unsure || d.doubt.net_indecisive || d.doubt.short_lowest) d.warnings.push_back(LevelWarning::kCountTheVertebrae);

  for (size_t i = 0; i < tracks.size(); ++i) {
    const int steps = static_cast<int>(tracks.size() - 1 - i);
    d.names[i] = aggregate::level_above(d.lowest_level, steps);
    d.confidences[i] = d.names[i].empty() ? 0 : confidence * std::pow(o.confidence_kept_per_step, steps);
  }
  // Two neighbouring bodies overlapping: the names below the pair stand either way; above it
  // they hold if both are bodies and are one level too high if one is a body found twice. Two
  // counts and nothing to choose between them: each name above keeps half its confidence.
  const int upper = evidence.overlapping_upper;
  if (upper >= 0 && upper + 1 < static_cast<int>(tracks.size())) {
    d.warnings.push_back(LevelWarning::kBodiesOverlap);
    d.overlapping_upper = upper;
    d.overlap_fraction = evidence.overlap_fraction;
    for (int i = 0; i <= upper; ++i) d.confidences[static_cast<size_t>(i)] *= 0.5;
  }
  // The level below the lowest one the models learnt from is named but not judged, unless the
  // lowest body's identity is in doubt (then it may be the level above, and keeps its verdict).
  // The height sign is left out here: S1 boxes are often short, and hiding was measured so.
  if (!model.alternative_level.empty() && !d.doubt.head_unsure && !d.doubt.net_indecisive)
    d.unjudged_level = aggregate::level_above(model.lowest_level, -1);
  return d;
}

bool count_warned(const std::vector<LevelWarning>& warnings) {
  return std::any_of(warnings.begin(), warnings.end(),
                     [](LevelWarning w) { return w == LevelWarning::kCountTheVertebrae || w == LevelWarning::kBodiesOverlap; });
}

std::vector<std::string> LevelDecision::messages() const {
  std::vector<std::string> out;
  for (const LevelWarning w : warnings) {
    if (w == LevelWarning::kFieldCutsLowest) {
      out.push_back("the field of view cuts the lowest vertebra: levels are counted from it and may be off");
      continue;
    }
    if (w == LevelWarning::kBodiesOverlap) {
      const size_t u = static_cast<size_t>(overlapping_upper);
      const auto name = [&](size_t i) { return i < names.size() && !names[i].empty() ? names[i] : std::string("unnamed"); };
      char line[400];
      std::snprintf(line, sizeof line,
                    "count the vertebrae above %s: the bodies named %s and %s overlap by %d %% of the smaller one's height; one of "
                    "them may be a body found twice or a box beside a body (then every name above %s is one level too high), or "
                    "the disc between them may be destroyed (spondylodiscitis)",
                    name(u + 1).c_str(), name(u).c_str(), name(u + 1).c_str(), static_cast<int>(std::lround(100 * overlap_fraction)),
                    name(u + 1).c_str());
      out.push_back(line);
      continue;
    }
    // One warning, whatever the number of signs: what the names assume, and why it is in doubt.
    std::vector<std::string> reasons;
    char text[200];
    if (doubt.head_unsure) {
      std::snprintf(text, sizeof text, "the level head gives p = %.2f for %s", p_alternative, alternative_level.c_str());
      reasons.push_back(text);
    }
    if (doubt.net_indecisive) {
      std::snprintf(text, sizeof text, "the level net reads %+.2f, neither clearly lumbar (-%.1f) nor clearly sacral (+%.1f)", net_logit,
                    net_ceiling, net_ceiling);
      reasons.push_back(text);
    }
    if (doubt.short_lowest) {
      std::snprintf(text, sizeof text, "it is %d %% of the height of the three above it",
                    static_cast<int>(100 * doubt.lowest_height_fraction));
      reasons.push_back(text);
    }
    std::string line = "count the vertebrae: the names assume the lowest body found is " + lowest_level + " (";
    for (size_t i = 0; i < reasons.size(); ++i) line += (i ? "; " : "") + reasons[i];
    line += "); if it is " + (other_level.empty() ? std::string("not") : other_level + " instead") +
            ", or the spine has a transitional vertebra (a sacralised L5, a lumbarised S1), every name is one level off";
    out.push_back(line);
  }
  return out;
}

}  // namespace spinescan::levels
