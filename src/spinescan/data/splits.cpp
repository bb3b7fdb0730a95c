#include "spinescan/data/splits.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"

namespace spinescan {

Splits make_source_splits(const std::vector<std::string>& cases, const std::vector<std::string>& sources) {
  SPINESCAN_CHECK_AS(cases.size() == sources.size(), ConfigError, "make_source_splits: ", cases.size(), " cases but ",
                     sources.size(), " sources");
  const std::set<std::string> distinct(sources.begin(), sources.end());
  SPINESCAN_CHECK_AS(distinct.size() >= 2, ConfigError, "leaving one source out needs at least two sources, found ",
                     distinct.size());
  Splits s;
  s.stratified_by = "source (one fold per source, its cases held out)";
  for (const auto& source : distinct) {
    Fold f;
    for (size_t i = 0; i < cases.size(); ++i) (sources[i] == source ? f.val : f.train).push_back(cases[i]);
    std::sort(f.val.begin(), f.val.end());
    std::sort(f.train.begin(), f.train.end());
    s.folds.push_back(std::move(f));
  }
  return s;
}

Splits make_splits(const std::vector<std::string>& cases, const std::vector<bool>& stratum, int num_folds, uint64_t seed) {
  SPINESCAN_CHECK_AS(cases.size() == stratum.size(), ConfigError, "make_splits: ", cases.size(), " cases but ",
                     stratum.size(), " strata");
  SPINESCAN_CHECK_AS(num_folds >= 2, ConfigError, "--folds must be at least 2, got ", num_folds);
  SPINESCAN_CHECK_AS(static_cast<size_t>(num_folds) <= cases.size(), ConfigError, "--folds ", num_folds,
                     " exceeds the number of cases (", cases.size(), ")");
  Rng rng(seed);
  Splits s;
  s.seed = seed;
  s.folds.resize(static_cast<size_t>(num_folds));
  size_t next_fold = 0;
  for (bool positive : {true, false}) {
    std::vector<std::string> group;
    for (size_t i = 0; i < cases.size(); ++i)
      if (stratum[i] == positive) group.push_back(cases[i]);
    std::sort(group.begin(), group.end());  // input order must not matter
    rng.shuffle(group);
    for (const auto& c : group) {
      s.folds[next_fold].val.push_back(c);
      next_fold = (next_fold + 1) % s.folds.size();
    }
  }
  for (auto& f : s.folds) {
    std::sort(f.val.begin(), f.val.end());
    const std::set<std::string> val(f.val.begin(), f.val.end());
    for (const auto& c : cases)
      if (!val.count(c)) f.train.push_back(c);
    std::sort(f.train.begin(), f.train.end());
  }
  return s;
}

nlohmann::json Splits::to_json() const {
  nlohmann::json j;
  j["seed"] = seed;
  j["num_folds"] = folds.size();
  j["stratified_by"] = stratified_by;
  j["folds"] = nlohmann::json::array();
  for (size_t k = 0; k < folds.size(); ++k)
    j["folds"].push_back({{"fold", k}, {"train", folds[k].train}, {"val", folds[k].val}});
  return j;
}

Splits Splits::from_json(const nlohmann::json& j, const std::string& source) {
  Splits s;
  try {
    s.seed = j.at("seed").get<uint64_t>();
    if (j.contains("stratified_by")) s.stratified_by = j["stratified_by"].get<std::string>();
    for (const auto& f : j.at("folds"))
      s.folds.push_back({f.at("train").get<std::vector<std::string>>(), f.at("val").get<std::vector<std::string>>()});
  } catch (const nlohmann::json::exception& e) {
    throw DataError(source + ": not a splits file: " + e.what());
  }
  SPINESCAN_CHECK(!s.folds.empty(), source, ": holds no folds");
  return s;
}

Splits Splits::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  SPINESCAN_CHECK(in, path.string(), ": cannot open");
  try {
    return from_json(nlohmann::json::parse(in), path.string());
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(path.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace spinescan
