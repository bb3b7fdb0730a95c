#pragma once
// Gradient-boosted trees (XGBoost through its C API, `tree_method=hist`: the same family as
// the paper's LightGBM, which Debian does not package). Binary logistic objective, so the
// output is a probability; NaN features are missing values. Saved as XGBoost's own JSON.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace spinescan::aggregate {

struct BoosterParams {
  int rounds = 150;
  int max_depth = 3;
  double eta = 0.05;
  double subsample = 0.8;
  double colsample = 0.8;
  double min_child_weight = 2;
  double lambda = 1;
  uint64_t seed = 0;
  int threads = 1;  // one thread: the same seed gives the same trees
  // Per feature: +1 the output may only rise with it, -1 only fall, 0 free (XGBoost's
  // monotone_constraints). Empty: all free.
  std::vector<int> monotone;
  nlohmann::json to_json() const;
  static BoosterParams from_json(const nlohmann::json& j);
};

class Booster {
 public:
  Booster() = default;
  ~Booster();
  Booster(Booster&& other) noexcept;
  Booster& operator=(Booster&& other) noexcept;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  // rows: equal-length feature vectors; labels 0/1.
  // weights: one per row (empty: all 1).
  static Booster train(const std::vector<std::vector<double>>& rows, const std::vector<int>& labels, const BoosterParams& params,
                       const std::vector<float>& weights = {});
  static Booster load(const std::filesystem::path& json_file);
  void save(const std::filesystem::path& json_file) const;  // atomically
  std::vector<double> predict(const std::vector<std::vector<double>>& rows) const;
  // Total gain each feature brought to the trees, by feature index ("f<i>" in XGBoost).
  std::vector<double> feature_gain(size_t num_features) const;
  bool empty() const { return handle_ == nullptr; }

 private:
  void* handle_ = nullptr;
};

}  // namespace spinescan::aggregate
