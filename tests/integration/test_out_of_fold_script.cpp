// scripts/out_of_fold.sh, the script behind the model card's out-of-fold figures: each fold's
// held-out cases evaluated with that fold's bundle, then pooled; lesion recall only on a
// painted dataset; a fold already evaluated is not evaluated again.
#include <gtest/gtest.h>

#include <set>
#include <nlohmann/json.hpp>

#include "test_util.h"

using spinescan::testing::command_output;
using spinescan::testing::read_file;
using spinescan::testing::run_cli;
using spinescan::testing::TempDir;

namespace {

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(read_file(p)); }

std::set<std::string> strings_of(const nlohmann::json& array) {
  std::set<std::string> out;
  for (const auto& s : array) out.insert(s.get<std::string>());
  return out;
}

}  // namespace

TEST(OutOfFoldScript, EachFoldIsJudgedByItsOwnBundleAndThePoolHoldsEveryCase) {
  TempDir tmp;
  const auto data = tmp / "ds", painted = tmp / "painted", split = tmp / "splits.json";
  ASSERT_EQ(run_cli("-q synth --out " + data.string() + " --cases 6 --seed 3").exit_code, 0);
  ASSERT_EQ(run_cli("-q dataset split " + data.string() + " --folds 2 --out " + split.string()).exit_code, 0);
  ASSERT_EQ(run_cli("-q synth lesions --data " + data.string() + " --out " + painted.string() + " --seed 5 --fraction 0.5").exit_code, 0);
  // Fold k's bundle is PREFIXk: here the shipped bundle under two names, told apart in the pool.
  const std::filesystem::path shipped = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
  for (const char* k : {"0", "1"}) std::filesystem::create_directory_symlink(shipped, tmp / (std::string("bundle") + k));
  const auto script = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "scripts/out_of_fold.sh";
  auto run_script = [&](const std::filesystem::path& dataset, const std::filesystem::path& out) {
    int status = -1;
    const std::string printed = command_output("SPINESCAN=" + std::string(SPINESCAN_BINARY) + " SPLIT=" + split.string() +
                                                   " FOLDS=2 EVALUATE_ARGS='--reports 0' bash " + script.string() + " " +
                                                   (tmp / "bundle").string() + " " + out.string() + " " + dataset.string(),
                                               &status);
    EXPECT_EQ(status, 0) << printed;
  };

  const auto folds = read_json(split)["folds"];
  for (const auto& [dataset, out] : {std::pair{painted, tmp / "oof_painted"}, std::pair{data, tmp / "oof_real"}}) {
    SCOPED_TRACE(out.filename().string());
    run_script(dataset, out);
    std::set<std::string> all_cases;
    for (int k = 0; k < 2; ++k) {
      const auto fold = read_json(out / ("fold" + std::to_string(k)) / "metrics.json");
      EXPECT_EQ(strings_of(fold["cases"]), strings_of(folds[k]["val"])) << "fold " << k << " evaluates its held-out cases";
      for (const auto& c : fold["cases"]) all_cases.insert(c.get<std::string>());
    }
    const auto pool = read_json(out / "pool" / "metrics.json");
    EXPECT_EQ(strings_of(pool["cases"]), all_cases);
    EXPECT_EQ(all_cases.size(), 6u);
    ASSERT_EQ(pool["runs"].size(), 2u);
    for (int k = 0; k < 2; ++k)
      EXPECT_EQ(std::filesystem::path(pool["runs"][k]["model"]["bundle"].get<std::string>()).filename(),
                "bundle" + std::to_string(k));
    // The pool reads the lesions of a painted dataset, and there are none in an unpainted one.
    EXPECT_EQ(pool.value("recall_by_lesion", nlohmann::json::object()).empty(), dataset == data);
  }

  // Run again: the folds already evaluated are kept as they are, the pool is written again.
  const auto fold0 = tmp / "oof_real" / "fold0" / "metrics.json";
  const auto fold0_time = std::filesystem::last_write_time(fold0);
  std::filesystem::remove_all(tmp / "oof_real" / "fold1");
  run_script(data, tmp / "oof_real");
  EXPECT_EQ(std::filesystem::last_write_time(fold0), fold0_time);
  EXPECT_TRUE(std::filesystem::exists(tmp / "oof_real" / "fold1" / "metrics.json"));
}
