#include "spinescan/aggregate/ood.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "spinescan/core/errors.h"

namespace spinescan::aggregate {
namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<size_t> columns_of(const std::vector<std::string>& wanted, const std::vector<std::string>& names) {
  std::vector<size_t> out;
  for (const auto& w : wanted) {
    const auto it = std::find(names.begin(), names.end(), w);
    SPINESCAN_CHECK_AS(it != names.end(), ModelError, "the out-of-distribution reference reads feature '", w,
                       "', which this program does not compute; refit it (spinescan model add-ood)");
    out.push_back(static_cast<size_t>(it - names.begin()));
  }
  return out;
}

}  // namespace

double OodReference::score(const std::vector<std::string>& feature_names, const std::vector<std::vector<double>>& rows) const {
  const auto cols = columns_of(features, feature_names);
  std::vector<double> per_vertebra;
  for (const auto& row : rows) {
    double sum = 0;
    int n = 0;
    for (size_t f = 0; f < cols.size(); ++f) {
      const double x = row.at(cols[f]);
      if (!std::isfinite(x)) continue;
      sum += std::min(std::abs(x - median[f]) / scale[f], kMaxAbsZ);
      ++n;
    }
    if (n > 0) per_vertebra.push_back(sum / n);
  }
  return per_vertebra.empty() ? std::numeric_limits<double>::quiet_NaN() : median_of(per_vertebra);
}

OodReference OodReference::fit(const std::vector<std::string>& wanted, const std::vector<std::string>& feature_names,
                               const std::vector<std::vector<std::vector<double>>>& studies, double margin) {
  OodReference r;
  r.features = wanted;
  const auto cols = columns_of(wanted, feature_names);
  for (size_t f = 0; f < cols.size(); ++f) {
    std::vector<double> values;
    for (const auto& study : studies)
      for (const auto& row : study)
        if (std::isfinite(row.at(cols[f]))) values.push_back(row[cols[f]]);
    SPINESCAN_CHECK_AS(values.size() >= 10, ConfigError, "feature '", wanted[f], "' has ", values.size(),
                       " values in the reference studies; at least 10 are needed");
    const double m = median_of(values);
    std::vector<double> deviations;
    for (double x : values) deviations.push_back(std::abs(x - m));
    // A floor keeps a near-constant column (all training bodies alike) from making every
    // small difference a large z.
    const double mad = 1.4826 * median_of(deviations);
    r.median.push_back(m);
    r.scale.push_back(std::max({mad, 1e-3 * std::abs(m), 1e-6}));
  }
  double highest = 0;
  std::vector<double> scores;
  for (const auto& study : studies) {
    const double s = r.score(feature_names, study);
    if (std::isfinite(s)) highest = std::max(highest, s), scores.push_back(s);
  }
  r.threshold = margin * highest;
  r.provenance = {{"studies", studies.size()}, {"margin", margin}, {"highest_training_score", highest},
                  {"median_training_score", scores.empty() ? 0.0 : median_of(scores)}};
  return r;
}

nlohmann::json OodReference::to_json() const {
  return {{"features", features}, {"median", median}, {"scale", scale}, {"threshold", threshold}, {"max_abs_z", kMaxAbsZ},
          {"provenance", provenance}};
}

OodReference OodReference::from_json(const nlohmann::json& j) {
  OodReference r;
  try {
    r.features = j.at("features").get<std::vector<std::string>>();
    r.median = j.at("median").get<std::vector<double>>();
    r.scale = j.at("scale").get<std::vector<double>>();
    r.threshold = j.at("threshold").get<double>();
    r.provenance = j.value("provenance", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("the bundle's out-of-distribution reference (manifest 'ood') is malformed: ") + e.what());
  }
  SPINESCAN_CHECK_AS(r.median.size() == r.features.size() && r.scale.size() == r.features.size() && r.threshold > 0, ModelError,
                     "the bundle's out-of-distribution reference (manifest 'ood') has ", r.features.size(), " features, ",
                     r.median.size(), " medians, ", r.scale.size(), " scales and threshold ", r.threshold);
  for (double s : r.scale) SPINESCAN_CHECK_AS(s > 0 && std::isfinite(s), ModelError, "the bundle's out-of-distribution reference has scale ", s);
  return r;
}

bool EmbeddingOodReference::fitted_with(const nlohmann::json& manifest) const {
  return manifest.is_object() && manifest.contains("classifier") && section_digest(manifest["classifier"]) == classifier_digest;
}

nlohmann::json EmbeddingOodReference::to_json() const {
  nlohmann::json j = reference.to_json();
  j["classifier_digest"] = classifier_digest;
  return j;
}

EmbeddingOodReference EmbeddingOodReference::from_json(const nlohmann::json& j) {
  EmbeddingOodReference r;
  r.reference = OodReference::from_json(j);
  SPINESCAN_CHECK_AS(j.contains("classifier_digest") && j["classifier_digest"].is_string(), ModelError,
                     "the bundle's out-of-distribution reference on the classifier's features names no classifier_digest");
  r.classifier_digest = j["classifier_digest"].get<std::string>();
  return r;
}

std::vector<std::string> embedding_feature_names(size_t dims) {
  std::vector<std::string> names;
  for (size_t i = 0; i < dims; ++i) names.push_back("embedding_" + std::to_string(i));
  return names;
}

std::vector<double> vertebra_embedding(const Track& track, size_t dims) {
  std::vector<double> sum(dims, 0.0);
  int n = 0;
  for (const auto& b : track.boxes) {
    if (b.embedding.empty()) continue;
    SPINESCAN_CHECK(b.embedding.size() == dims, "a box embedding has ", b.embedding.size(), " values, not ", dims);
    for (size_t i = 0; i < dims; ++i) sum[i] += b.embedding[i];
    ++n;
  }
  for (auto& x : sum) x = n ? x / n : std::numeric_limits<double>::quiet_NaN();
  return sum;
}

std::string section_digest(const nlohmann::json& section) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 offset basis and prime
  for (unsigned char c : section.dump()) h = (h ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace spinescan::aggregate
