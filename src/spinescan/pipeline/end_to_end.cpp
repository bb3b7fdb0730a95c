#include "spinescan/pipeline/end_to_end.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>

#include "spinescan/eval/classification_metrics.h"

namespace spinescan::pipeline {

OperatingPoint OperatingPoint::per_record(std::vector<double> thresholds) {
  OperatingPoint p(0.5);
  p.per_record_ = std::move(thresholds);
  return p;
}

OperatingPoint OperatingPoint::subset(const std::vector<size_t>& indices) const {
  if (per_record_.empty()) return *this;
  std::vector<double> t;
  t.reserve(indices.size());
  for (size_t i : indices) t.push_back(per_record_.at(i));
  return per_record(std::move(t));
}

nlohmann::json OperatingPoint::to_json() const { return per_record_.empty() ? nlohmann::json(shared_) : nlohmann::json("per run"); }

nlohmann::json vertebra_metrics(const std::vector<VertebraRecord>& records, const std::vector<double>& scores,
                                const OperatingPoint& threshold, int resamples, uint64_t seed) {
  std::vector<double> s, t;  // score and threshold of each labelled record
  std::vector<int> y;
  std::map<std::string, std::vector<size_t>> by_case;  // indices into s/y/t
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].target < 0) continue;
    by_case[records[i].case_name].push_back(s.size());
    s.push_back(scores[i]);
    t.push_back(threshold.at(i));
    y.push_back(records[i].target);
  }
  const eval::BinaryMetrics m = eval::binary_metrics(s, y, t);
  nlohmann::json out = m.to_json();
  out["threshold"] = threshold.to_json();
  if (s.empty() || resamples <= 0) return out;

  std::vector<const std::vector<size_t>*> cases;
  for (const auto& [name, idx] : by_case) cases.push_back(&idx);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, cases.size() - 1);
  std::map<std::string, std::vector<double>> draws;
  for (int r = 0; r < resamples; ++r) {
    std::vector<double> bs, bt;
    std::vector<int> by;
    for (size_t c = 0; c < cases.size(); ++c)
      for (size_t i : *cases[pick(rng)]) bs.push_back(s[i]), by.push_back(y[i]), bt.push_back(t[i]);
    const eval::BinaryMetrics b = eval::binary_metrics(bs, by, bt);
    for (const auto& [name, value] : std::map<std::string, double>{
             {"accuracy", b.accuracy}, {"precision", b.precision}, {"recall", b.recall}, {"f1", b.f1}, {"auc", b.auc}})
      if (std::isfinite(value)) draws[name].push_back(value);
  }
  nlohmann::json ci = nlohmann::json::object();
  for (auto& [name, values] : draws) {
    std::sort(values.begin(), values.end());
    auto at = [&](double q) { return values[static_cast<size_t>(std::clamp(q * (values.size() - 1), 0.0, values.size() - 1.0))]; };
    ci[name] = {at(0.025), at(0.975)};
  }
  out["ci95"] = ci;
  out["ci95_method"] = "percentile bootstrap over cases, " + std::to_string(resamples) + " resamples";
  return out;
}

nlohmann::json vertebrae_found(const std::vector<VertebraRecord>& records) {
  int found = 0, truth = 0, extra = 0;
  for (const auto& r : records) {
    found += r.found && r.truth_label != 0 ? 1 : 0;
    extra += r.found && r.truth_label == 0 ? 1 : 0;
    truth += r.truth_label != 0 ? 1 : 0;
  }
  return {{"truth", truth}, {"found", found}, {"recall", truth ? static_cast<double>(found) / truth : 0.0}, {"extra_tracks", extra}};
}

nlohmann::json healthy_flag_rate(const std::vector<VertebraRecord>& records, const std::vector<double>& scores,
                                 const OperatingPoint& threshold) {
  std::vector<double> healthy;
  int64_t flagged = 0;
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].found && records[i].target == 0) {
      healthy.push_back(scores[i]);
      flagged += scores[i] >= threshold.at(i);
    }
  std::sort(healthy.begin(), healthy.end());
  auto quantile = [&](double q) {
    return healthy.empty() ? nlohmann::json(nullptr) : nlohmann::json(healthy[static_cast<size_t>(q * (healthy.size() - 1) + 0.5)]);
  };
  return {{"n", healthy.size()},
          {"flagged", flagged},
          {"flag_rate", healthy.empty() ? nlohmann::json(nullptr) : nlohmann::json(static_cast<double>(flagged) / healthy.size())},
          {"threshold", threshold.to_json()},
          {"p25", quantile(0.25)},
          {"median", quantile(0.5)},
          {"p75", quantile(0.75)}};
}

double threshold_for_healthy_flag_rate(const std::vector<VertebraRecord>& records, const std::vector<double>& scores,
                                       double max_rate) {
  std::map<std::string, std::vector<double>> healthy_by_source;
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].found && records[i].target == 0) healthy_by_source[case_source(records[i].case_name)].push_back(scores[i]);
  double threshold = 0;
  for (auto& [source, healthy] : healthy_by_source) {
    std::sort(healthy.begin(), healthy.end(), std::greater<>());
    const size_t allowed = static_cast<size_t>(std::floor(max_rate * static_cast<double>(healthy.size()) + 1e-9));
    // Just above the first healthy score that may not be flagged (ties stay unflagged too).
    if (allowed < healthy.size())
      threshold = std::max(threshold, std::nextafter(healthy[allowed], std::numeric_limits<double>::infinity()));
  }
  return threshold;
}

std::vector<eval::ReliabilityBin> calibration_bins(const std::vector<VertebraRecord>& records, const std::vector<double>& scores) {
  std::vector<double> p;
  std::vector<int> y;
  for (size_t i = 0; i < records.size(); ++i)
    if (records[i].found && records[i].target >= 0) p.push_back(scores[i]), y.push_back(records[i].target);
  return eval::reliability_bins(p, y);
}

nlohmann::json calibration_json(const std::vector<eval::ReliabilityBin>& bins) {
  nlohmann::json rows = nlohmann::json::array();
  int64_t n = 0;
  for (const auto& b : bins) {
    rows.push_back({{"lo", b.lo}, {"hi", b.hi}, {"count", b.count}, {"mean_predicted", b.mean_predicted}, {"observed", b.observed}});
    n += b.count;
  }
  const auto spread = eval::calibrated_ece_spread(bins);
  return {{"n", n},
          {"ece", eval::expected_calibration_error(bins)},
          {"ece_if_calibrated", {{"median", spread.median}, {"p95", spread.p95}, {"draws", spread.draws}}},
          {"bins", rows}};
}

nlohmann::json recall_by_lesion(const std::vector<VertebraRecord>& records, const std::vector<double>& scores, const OperatingPoint& threshold,
                                const std::map<std::pair<std::string, int>, PaintedBody>& lesions) {
  std::map<std::string, std::pair<int, int>> counts;  // group -> (n, flagged)
  for (size_t i = 0; i < records.size(); ++i) {
    const auto it = lesions.find({records[i].case_name, records[i].truth_label});
    if (records[i].truth_label == 0 || it == lesions.end()) continue;
    const bool flagged = records[i].found && scores[i] >= threshold.at(i);
    for (const std::string& group : {it->second.finding, std::string("family ") + it->second.family,
                                     std::string(it->second.subtle ? "subtle" : "not subtle")}) {
      ++counts[group].first;
      counts[group].second += flagged;
    }
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [group, c] : counts)
    out[group] = {{"n", c.first}, {"flagged", c.second}, {"recall", static_cast<double>(c.second) / c.first}};
  return out;
}

nlohmann::json level_accuracy(const std::vector<VertebraRecord>& records) {
  int right = 0, n = 0;
  std::map<std::string, bool> case_ok, case_warned;
  for (const auto& r : records) {
    case_warned[r.case_name] = case_warned[r.case_name] || r.count_warned;
    if (!r.found || r.truth_label == 0 || r.truth_level.empty()) continue;
    ++n;
    const bool ok = r.level == r.truth_level;
    right += ok ? 1 : 0;
    auto it = case_ok.emplace(r.case_name, true).first;
    it->second = it->second && ok;
  }
  int cases_right = 0, right_warned = 0, wrong_warned = 0;
  for (const auto& [c, ok] : case_ok) {
    cases_right += ok ? 1 : 0;
    (ok ? right_warned : wrong_warned) += case_warned[c] ? 1 : 0;
  }
  // The "count the vertebrae" warning as a yardstick: it should reach every study named wrong
  // and few of those named right.
  return {{"accuracy", n ? static_cast<double>(right) / n : std::nan("")}, {"n", n}, {"right", right},
          {"cases_all_right", cases_right}, {"cases", case_ok.size()},
          {"count_warning", {{"cases_warned", right_warned + wrong_warned},
                             {"named_wrong", static_cast<int>(case_ok.size()) - cases_right},
                             {"named_wrong_warned", wrong_warned},
                             {"named_right_warned", right_warned}}}};
}

}  // namespace spinescan::pipeline
