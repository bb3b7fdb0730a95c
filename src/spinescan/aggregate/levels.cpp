#include "spinescan/aggregate/levels.h"

#include <algorithm>
#include <cmath>

#include "spinescan/core/errors.h"
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

std::vector<double> LevelModel::columns(const std::vector<std::string>& cues, const std::vector<std::string>& names,
                                        const std::vector<double>& f) {
  std::vector<double> x;
  for (const auto& cue : cues) {
    const auto it = std::find(names.begin(), names.end(), cue);
    x.push_back(it == names.end() ? std::nan("") : f[static_cast<size_t>(it - names.begin())]);
  }
  return x;
}

const std::vector<std::string>& lowest_relative_cue_names() {
  static const std::vector<std::string> names = {"level_net_logit"};
  return names;
}

std::vector<std::string> lowest_cue_names(const std::vector<std::string>& feature_names) {
  std::vector<std::string> names = feature_names;
  const auto& relative = lowest_relative_cue_names();
  names.insert(names.end(), relative.begin(), relative.end());
  return names;
}

LowestCues lowest_body_cues(const std::vector<std::string>& feature_names, const std::vector<double>& lowest,
                            double level_net_logit) {
  SPINESCAN_CHECK(lowest.size() == feature_names.size(), "level cues: a feature row of the wrong length");
  LowestCues cues{lowest_cue_names(feature_names), lowest};
  cues.values.push_back(level_net_logit);  // in the order of lowest_relative_cue_names()
  return cues;
}

namespace {

// The fitted regression's log-odds at the `cues` columns of a row; NaN when a cue is missing.
double log_odds(const classify::LogisticRegression& regression, const std::vector<std::string>& cues,
                const std::vector<std::string>& names, const std::vector<double>& f) {
  const std::vector<double> x = LevelModel::columns(cues, names, f);
  if (std::any_of(x.begin(), x.end(), [](double v) { return std::isnan(v); })) return std::nan("");
  const double p = std::clamp(regression.predict(x), 1e-9, 1 - 1e-9);
  return std::log(p / (1 - p));
}

}  // namespace

double LevelModel::alternative_probability(const std::vector<std::string>& names, const std::vector<double>& f,
                                           bool with_score_head) const {
  if (alternative_level.empty() || !head.fitted()) return -1;
  const double r = std::clamp(alternative_rate, 1e-6, 1 - 1e-6);
  // Both heads are class-balanced, so their log-odds estimate likelihood ratios; the prior
  // (how often the alternative is what a detector finds) comes in once.
  const double net_logit = level_net.is_null() ? std::nan("") : columns({"level_net_logit"}, names, f)[0];
  double logit = (std::isfinite(net_logit) ? net_logit : log_odds(head, head_cues, names, f)) + std::log(r / (1 - r));
  if (std::isnan(logit)) return -1;
  // A missing detector cue leaves the image head's answer, not none.
  const double score_logit = with_score_head && score_head.fitted() ? log_odds(score_head, score_cues, names, f) : std::nan("");
  if (!std::isnan(score_logit)) logit += score_logit;
  return 1 / (1 + std::exp(-logit));
}

std::string LevelModel::lowest_for(const std::vector<std::string>& names, const std::vector<double>& f) const {
  if (alternative_level.empty() || !head.fitted()) return lowest_level;
  return alternative_probability(names, f) > 0.5 ? alternative_level : lowest_level;
}

nlohmann::json LevelModel::to_json() const {
  nlohmann::json j = {{"lowest_level", lowest_level}, {"confidence", confidence}, {"naming", naming.to_json()}};
  if (!alternative_level.empty() && head.fitted()) {
    j["head"] = {{"alternative_level", alternative_level}, {"cues", head_cues}, {"logistic_regression", head.to_json()},
                 {"alternative_rate", alternative_rate}, {"training_accuracy", head_training_accuracy}};
    if (score_head.fitted()) j["head"]["score_head"] = {{"cues", score_cues}, {"logistic_regression", score_head.to_json()}};
    if (!level_net.is_null()) j["head"]["level_net"] = level_net;
  }
  return j;
}

LevelModel LevelModel::from_json(const nlohmann::json& j) {
  LevelModel m;
  m.lowest_level = j.value("lowest_level", m.lowest_level);
  m.confidence = j.value("confidence", m.confidence);
  if (j.contains("naming")) m.naming = levels::LevelNamingOptions::from_json(j["naming"]);
  SPINESCAN_CHECK_AS(!j.contains("rule"), ModelError,
                     "the level model is the one-feature rule of manifest version 1, which this spinescan no longer has: "
                     "learn one with `spinescan train levels` and put it in with `spinescan model add-levels`");
  if (j.contains("head")) {
    const auto& h = j["head"];
    m.alternative_level = h.value("alternative_level", "");
    m.head_cues = h.at("cues").get<std::vector<std::string>>();
    m.head = classify::LogisticRegression::from_json(h.at("logistic_regression"));
    m.alternative_rate = h.value("alternative_rate", 0.5);
    m.head_training_accuracy = h.value("training_accuracy", 0.0);
    if (h.contains("score_head")) {
      m.score_cues = h["score_head"].at("cues").get<std::vector<std::string>>();
      m.score_head = classify::LogisticRegression::from_json(h["score_head"].at("logistic_regression"));
    }
    if (h.contains("level_net")) m.level_net = h["level_net"];
  }
  return m;
}

}  // namespace spinescan::aggregate
