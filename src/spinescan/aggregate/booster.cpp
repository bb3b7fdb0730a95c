#include "spinescan/aggregate/booster.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <string>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"

namespace spinescan::aggregate {

namespace {
// XGBoost's message: "[15:29:44] ./src/common/json.cc:407: Unknown construct, ..." followed by
// the offending text and a stack trace; its first line without the time and source position.
std::string xgboost_reason(const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  if (!line.empty() && line[0] == '[') {
    const size_t time_end = line.find("] ");
    const size_t position_end = time_end == std::string::npos ? std::string::npos : line.find(": ", time_end + 2);
    if (position_end != std::string::npos) line = line.substr(position_end + 2);
  }
  return line;
}

void check(int rc, const char* what) {
  if (rc != 0) throw ModelError(std::string("XGBoost ") + what + ": " + xgboost_reason(XGBGetLastError()));
}

// Owns a DMatrix built from rows (NaN = missing).
struct Matrix {
  DMatrixHandle handle = nullptr;
  explicit Matrix(const std::vector<std::vector<double>>& rows) {
    SPINESCAN_CHECK(!rows.empty(), "no rows for the boosted trees");
    const size_t cols = rows.front().size();
    std::vector<float> flat;
    flat.reserve(rows.size() * cols);
    for (const auto& r : rows) {
      SPINESCAN_CHECK(r.size() == cols, "feature rows of different lengths (", r.size(), " and ", cols, ")");
      for (double x : r) flat.push_back(static_cast<float>(x));
    }
    check(XGDMatrixCreateFromMat(flat.data(), rows.size(), cols, std::nanf(""), &handle), "matrix");
  }
  ~Matrix() {
    if (handle) XGDMatrixFree(handle);
  }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
};
}  // namespace

nlohmann::json BoosterParams::to_json() const {
  return {{"rounds", rounds}, {"max_depth", max_depth}, {"eta", eta}, {"subsample", subsample}, {"colsample", colsample},
          {"min_child_weight", min_child_weight}, {"lambda", lambda}, {"seed", seed}, {"monotone", monotone}};
}

BoosterParams BoosterParams::from_json(const nlohmann::json& j) {
  BoosterParams p;
  p.rounds = j.value("rounds", p.rounds);
  p.max_depth = j.value("max_depth", p.max_depth);
  p.eta = j.value("eta", p.eta);
  p.subsample = j.value("subsample", p.subsample);
  p.colsample = j.value("colsample", p.colsample);
  p.min_child_weight = j.value("min_child_weight", p.min_child_weight);
  p.lambda = j.value("lambda", p.lambda);
  p.seed = j.value("seed", p.seed);
  p.monotone = j.value("monotone", p.monotone);
  return p;
}

Booster::~Booster() {
  if (handle_) XGBoosterFree(handle_);
}
Booster::Booster(Booster&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
Booster& Booster::operator=(Booster&& other) noexcept {
  if (this != &other) {
    if (handle_) XGBoosterFree(handle_);
    handle_ = other.handle_;
    other.handle_ = nullptr;
  }
  return *this;
}

Booster Booster::train(const std::vector<std::vector<double>>& rows, const std::vector<int>& labels, const BoosterParams& p,
                       const std::vector<float>& weights) {
  SPINESCAN_CHECK(rows.size() == labels.size(), rows.size(), " feature rows but ", labels.size(), " labels");
  SPINESCAN_CHECK(weights.empty() || weights.size() == rows.size(), rows.size(), " feature rows but ", weights.size(), " weights");
  Matrix m(rows);
  std::vector<float> y(labels.begin(), labels.end());
  check(XGDMatrixSetFloatInfo(m.handle, "label", y.data(), y.size()), "labels");
  if (!weights.empty()) check(XGDMatrixSetFloatInfo(m.handle, "weight", weights.data(), weights.size()), "weights");
  Booster b;
  DMatrixHandle train_set[] = {m.handle};
  check(XGBoosterCreate(train_set, 1, &b.handle_), "create");
  auto set = [&](const char* name, const std::string& value) { check(XGBoosterSetParam(b.handle_, name, value.c_str()), name); };
  set("objective", "binary:logistic");
  set("tree_method", "hist");
  set("max_depth", std::to_string(p.max_depth));
  set("eta", std::to_string(p.eta));
  set("subsample", std::to_string(p.subsample));
  set("colsample_bytree", std::to_string(p.colsample));
  set("min_child_weight", std::to_string(p.min_child_weight));
  set("lambda", std::to_string(p.lambda));
  set("seed", std::to_string(p.seed));
  set("nthread", std::to_string(p.threads));
  set("verbosity", "0");
  if (!p.monotone.empty()) {
    SPINESCAN_CHECK_AS(p.monotone.size() == rows.front().size(), ConfigError, "monotone constraints for ", p.monotone.size(),
                       " features, rows have ", rows.front().size());
    std::string constraints = "(";
    for (size_t i = 0; i < p.monotone.size(); ++i) constraints += (i ? "," : "") + std::to_string(p.monotone[i]);
    set("monotone_constraints", constraints + ")");
  }
  for (int i = 0; i < p.rounds; ++i) check(XGBoosterUpdateOneIter(b.handle_, i, m.handle), "training round");
  return b;
}

Booster Booster::load(const std::filesystem::path& file) {
  SPINESCAN_CHECK_AS(std::filesystem::exists(file), ModelError, file.string(), ": no such aggregator model");
  Booster b;
  check(XGBoosterCreate(nullptr, 0, &b.handle_), "create");
  const LibraryOutputToLog library_output;  // XGBoost warns on stderr about older model formats
  check(XGBoosterLoadModel(b.handle_, file.c_str()), ("load " + file.string()).c_str());
  return b;
}

void Booster::save(const std::filesystem::path& file) const {
  SPINESCAN_CHECK_AS(handle_, ModelError, "saving an untrained aggregator");
  // temporary_sibling keeps the .json extension, which tells XGBoost the format.
  write_atomically(file, [&](const std::filesystem::path& tmp) { check(XGBoosterSaveModel(handle_, tmp.c_str()), "save"); });
}

std::vector<double> Booster::predict(const std::vector<std::vector<double>>& rows) const {
  SPINESCAN_CHECK_AS(handle_, ModelError, "predicting with an untrained aggregator");
  if (rows.empty()) return {};
  Matrix m(rows);
  bst_ulong n = 0;
  const float* out = nullptr;
  check(XGBoosterPredict(handle_, m.handle, 0, 0, 0, &n, &out), "predict");
  SPINESCAN_CHECK_AS(n == rows.size(), ModelError, "XGBoost returned ", n, " predictions for ", rows.size(), " rows");
  return std::vector<double>(out, out + n);
}

std::vector<double> Booster::feature_gain(size_t num_features) const {
  std::vector<double> gain(num_features, 0.0);
  if (!handle_) return gain;
  bst_ulong n = 0, dim = 0;
  const char** names = nullptr;
  const bst_ulong* shape = nullptr;
  const float* scores = nullptr;
  check(XGBoosterFeatureScore(handle_, R"({"importance_type": "total_gain"})", &n, &names, &dim, &shape, &scores), "importance");
  for (bst_ulong i = 0; i < n; ++i) {
    const std::string name = names[i];
    if (name.size() > 1 && name[0] == 'f') {
      const size_t index = std::stoul(name.substr(1));
      if (index < num_features) gain[index] = scores[i];
    }
  }
  return gain;
}

}  // namespace spinescan::aggregate
