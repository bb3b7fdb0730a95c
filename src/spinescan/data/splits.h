#pragma once
// Case-level cross-validation splits (never by slice), stratified by whether a case holds a
// pathological body, reproducible from a seed.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace spinescan {

struct Fold {
  std::vector<std::string> train, val;
};

struct Splits {
  uint64_t seed = 0;
  std::string stratified_by = "case has a vertebra with pathological = 1";  // how the folds were dealt
  std::vector<Fold> folds;
  nlohmann::json to_json() const;
  static Splits from_json(const nlohmann::json& j, const std::string& source);
  static Splits load(const std::filesystem::path& path);
};

// Deals each stratum's shuffled cases round-robin into `num_folds` validation sets (the
// deal continues across strata so fold sizes differ by at most one). Throws ConfigError
// when num_folds < 2 or exceeds the number of cases.
Splits make_splits(const std::vector<std::string>& cases, const std::vector<bool>& stratum, int num_folds, uint64_t seed);

// Leave one source out: one fold per distinct source, its validation set being that source's
// cases (folds in source order). A model trained on one scanner and scored on another shows
// whether it learnt the finding or the site. ConfigError with fewer than two sources.
Splits make_source_splits(const std::vector<std::string>& cases, const std::vector<std::string>& sources);

}  // namespace spinescan
