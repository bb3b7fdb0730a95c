// The whole method as a user runs it, on phantoms: classifiers per fold, `train aggregator`
// on their out-of-fold outputs, a bundle assembled with `model add-*`, then `analyze` on a
// held-out phantom study checked against the phantom's truth, and `evaluate` end to end.
// The detector is the shipped one, trained on real MRI (SPIDER) where the sacrum is not a
// labelled body: on phantoms it boxes S1 in some studies and not in others, which is what the
// learnt level rule (aggregate/levels.h) has to sort out. The classifiers are tiny (CI
// checks the machinery and the truth of boxes and levels, not accuracy).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "spinescan/aggregate/features.h"
#include "spinescan/aggregate/levels.h"
#include "spinescan/aggregate/ood.h"
#include "spinescan/classify/train.h"
#include "spinescan/data/boxes.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/levels/naming_options.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::run_cli;
using spinescan::testing::Result;
using spinescan::testing::TempDir;

namespace {

struct Pipeline {
  TempDir tmp;
  std::filesystem::path data = tmp / "ds", split = tmp / "splits.json", bundle = tmp / "bundle";
  std::vector<std::string> runs;
  Result train, add_classifier, add_aggregator, train_levels, add_levels;

  Pipeline() {
    spinescan::testing::write_phantom_dataset_with_splits(data, split, 9, 23, 0.4, 3);
    // A bundle holding the shipped detector only.
    std::filesystem::create_directories(bundle);
    const std::filesystem::path shipped = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
    std::filesystem::copy_file(shipped / "detector.pt", bundle / "detector.pt");
    auto manifest = nlohmann::json::parse(read_file(shipped / "manifest.json"));
    std::ofstream(bundle / "manifest.json")
        << nlohmann::json{{"version", manifest["version"]}, {"name", "phantom test bundle"}, {"detector", manifest["detector"]}}.dump(2);
    for (int k = 0; k < 3; ++k) {
      classify::ClassifierTrainConfig c;
      c.data = data.string();
      c.split = split.string();
      c.fold = k;
      c.out = (tmp / ("cls" + std::to_string(k))).string();
      c.preset = "micro";
      c.crop_size = 32;
      c.batch = 16;
      c.samples_per_epoch = 64;
      c.epochs = 3;
      c.lr = 3e-3;
      c.inner_val_cases = 1;
      c.augment = 0;
      c.device = "cpu";
      classify::train_classifier(c);
      runs.push_back(c.out);
    }
    train = run_cli(train_aggregator_args() + " --out " + (tmp / "agg").string());
    add_classifier = run_cli("model add-classifier " + runs[0] + " --bundle " + bundle.string());
    add_aggregator = run_cli("model add-aggregator " + (tmp / "agg").string() + " --bundle " + bundle.string());
    // The level model (phantoms label S1, so it learns to count from there), as a user assembles a bundle.
    train_levels = run_cli("--threads 2 train levels --data " + data.string() + " --split " + split.string() + " --fold 0 --model " +
                           bundle.string() + " --out " + (tmp / "levels_of_bundle").string());
    add_levels = run_cli("model add-levels " + (tmp / "levels_of_bundle").string() + " --bundle " + bundle.string());
  }
  // A copy of the bundle without its level model.
  std::filesystem::path without_levels(const std::string& name) const {
    const auto copy = tmp / name;
    std::filesystem::copy(bundle, copy, std::filesystem::copy_options::recursive);
    auto manifest = nlohmann::json::parse(read_file(copy / "manifest.json"));
    manifest.erase("levels");
    std::ofstream(copy / "manifest.json") << manifest.dump(2);
    return copy;
  }
  std::string heldout_case() const { return Splits::load(split).folds[0].val.front(); }
  // `train aggregator` on this data with the three fold classifiers, short of --out.
  std::string train_aggregator_args() const {
    return "--threads 2 train aggregator --data " + data.string() + " --split " + split.string() + " --fold 0 --classifiers " +
           runs[0] + "," + runs[1] + "," + runs[2] + " --model " + bundle.string() + " --rounds 20";
  }
  // The same, into tmp/<name> seeded with the first run's records: the same bodies, not analysed again.
  std::string train_aggregator_args_on_cached_records(const std::string& name) const {
    std::filesystem::create_directories(tmp / name);
    std::filesystem::copy_file(tmp / "agg/records.jsonl", tmp / name / "records.jsonl");
    return train_aggregator_args() + " --out " + (tmp / name).string();
  }
};

int aggregate_level_order(const nlohmann::json& level) { return level.is_string() ? level_order(level.get<std::string>()) : -100; }

Pipeline& pipeline() {
  static Pipeline p;
  return p;
}

}  // namespace

TEST(TrainAggregator, WritesTheModelItsSpecAndOutOfFoldMetrics) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.train.exit_code, 0) << p.train.err;
  for (const char* name : {"aggregator.json", "aggregator_spec.json", "metrics.json", "records.jsonl", "out_of_fold.csv"})
    EXPECT_TRUE(std::filesystem::exists(p.tmp / "agg" / name)) << name;
  const auto m = nlohmann::json::parse(read_file(p.tmp / "agg/metrics.json"));
  for (const char* set : {"heldout_fold", "all_folds"})
    for (const char* method : {"aggregator", "max_over_slices"}) {
      EXPECT_GT(m[set][method]["n"].get<int>(), 0) << set << " " << method;
      EXPECT_TRUE(m[set][method].contains("ci95")) << set << " " << method;
    }
  // Levels are not this stage's: the bundle has no level model yet, so none are reported, and
  // the spec that goes into a bundle has none.
  EXPECT_FALSE(m["all_folds"].contains("levels"));
  EXPECT_TRUE(m["levels_named_by"].is_null());
  EXPECT_FALSE(nlohmann::json::parse(read_file(p.tmp / "agg/aggregator_spec.json")).contains("levels"));
  // The operating threshold is half the inner-CV best F1 (the optimum for calibrated
  // probabilities), and the trees were monotone in the probability columns.
  EXPECT_EQ(m["thresholds"]["aggregator_rule"], "half-best-f1");
  EXPECT_DOUBLE_EQ(m["thresholds"]["aggregator"].get<double>(), 0.5 * m["thresholds"]["aggregator_inner_cv_best_f1"].get<double>());
  EXPECT_EQ(m["booster"]["monotone"].size(), spinescan::aggregate::vertebra_feature_names().size());
  // Every labelled body of the 9 cases is a record (found or missed), each case in one fold.
  const auto records = spinescan::testing::read_jsonl(p.tmp / "agg/records.jsonl");
  const Dataset d = load_dataset(p.data);
  size_t labelled = 0;
  for (const auto& row : d.vertebrae) labelled += 1;
  size_t truth_records = 0;
  for (size_t i = 1; i < records.size(); ++i) truth_records += records[i]["truth_label"].get<int>() != 0;
  EXPECT_EQ(truth_records, labelled);
  // One out-of-fold row per record, with the operating threshold; trained within source by default.
  const std::string oof = read_file(p.tmp / "agg/out_of_fold.csv");
  EXPECT_EQ(static_cast<size_t>(std::count(oof.begin(), oof.end(), '\n')), records.size());  // a header each
  EXPECT_EQ(oof.rfind("case,label,truth_level,fold,target,found,aggregator,max_over_slices,threshold\n", 0), 0u);
  EXPECT_EQ(m["balance"], "within-source");
  // A second run re-uses the records (the bundle's manifest has gained a classifier, an
  // aggregator and a level model since, its detector is the same) and gives the same model and
  // numbers; the level accuracy of the bundle's new level model is reported beside them.
  const std::string first_metrics = read_file(p.tmp / "agg/metrics.json");
  const std::string first_model = read_file(p.tmp / "agg/aggregator.json");
  const Result again = run_cli("--threads 2 train aggregator --data " + p.data.string() + " --split " + p.split.string() +
                               " --fold 0 --classifiers " + p.runs[0] + "," + p.runs[1] + "," + p.runs[2] + " --model " +
                               p.bundle.string() + " --out " + (p.tmp / "agg").string() + " --rounds 20");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("re-using"), std::string::npos) << again.err;
  ASSERT_EQ(p.add_levels.exit_code, 0) << p.add_levels.err;
  auto second = nlohmann::json::parse(read_file(p.tmp / "agg/metrics.json"));
  EXPECT_EQ(second["levels_named_by"], p.bundle.string());
  for (const char* set : {"heldout_fold", "all_folds"}) {
    EXPECT_GT(second[set]["levels"]["n"].get<int>(), 0) << set;
    second[set].erase("levels");
  }
  for (auto& [source, x] : second["by_source_all_folds"].items()) {
    EXPECT_TRUE(x.contains("levels")) << source;
    x.erase("levels");
  }
  second["levels_named_by"] = nullptr;
  EXPECT_EQ(second, nlohmann::json::parse(first_metrics));
  EXPECT_EQ(read_file(p.tmp / "agg/aggregator.json"), first_model);
  EXPECT_FALSE(nlohmann::json::parse(read_file(p.tmp / "agg/aggregator_spec.json"))["provenance"]["all_folds"].contains("levels"));
  // A bundle of manifest version 1 is refused before any work, records cached or not.
  {
    const auto v1 = p.without_levels("bundle_v1");
    auto manifest = nlohmann::json::parse(read_file(v1 / "manifest.json"));
    manifest.erase("version");
    std::ofstream(v1 / "manifest.json") << manifest.dump(2);
    std::filesystem::create_directories(p.tmp / "agg_v1");
    std::filesystem::copy_file(p.tmp / "agg/records.jsonl", p.tmp / "agg_v1/records.jsonl");
    const Result old_bundle = run_cli("--threads 2 train aggregator --data " + p.data.string() + " --split " + p.split.string() +
                                      " --fold 0 --classifiers " + p.runs[0] + "," + p.runs[1] + "," + p.runs[2] + " --model " +
                                      v1.string() + " --out " + (p.tmp / "agg_v1").string() + " --rounds 20");
    EXPECT_EQ(old_bundle.exit_code, 1) << old_bundle.err;
    EXPECT_NE(old_bundle.err.find("spinescan model upgrade"), std::string::npos) << old_bundle.err;
    EXPECT_FALSE(std::filesystem::exists(p.tmp / "agg_v1/metrics.json"));
  }
  // Out-of-fold only: a classifier list that does not cover the folds is refused.
  const Result short_list = run_cli("train aggregator --data " + p.data.string() + " --split " + p.split.string() + " --classifiers " +
                                    p.runs[0] + " --model " + p.bundle.string() + " --out " + (p.tmp / "agg2").string());
  EXPECT_EQ(short_list.exit_code, 2) << short_list.err;
}

// --max-healthy-flag-rate: the threshold rises until the training folds' out-of-fold scores
// flag at most that share of each source's healthy-labelled bodies.
TEST(TrainAggregator, AFlagRateBoundRaisesTheThresholdOverTheTrainingFoldsHealthyBodies) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.train.exit_code, 0) << p.train.err;
  const auto out = p.tmp / "agg_bounded";
  const std::string args = p.train_aggregator_args_on_cached_records("agg_bounded");
  const Result r = run_cli(args + " --max-healthy-flag-rate 0.05");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = nlohmann::json::parse(read_file(out / "metrics.json"));
  const double threshold = m["thresholds"]["aggregator"].get<double>();
  const double bound = m["thresholds"]["healthy_flag_rate_threshold"].get<double>();
  EXPECT_GT(bound, 0);
  EXPECT_DOUBLE_EQ(threshold, std::max(bound, m["thresholds"]["aggregator_rule_threshold"].get<double>()));
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(read_file(out / "aggregator_spec.json"))["threshold"].get<double>(), threshold);
  // Counted again from the out-of-fold rows of the training folds (fold 0 is held out).
  std::istringstream oof(read_file(out / "out_of_fold.csv"));
  std::string line;
  std::getline(oof, line);
  int healthy = 0, flagged = 0;
  while (std::getline(oof, line)) {
    std::vector<std::string> f;
    std::stringstream row(line);
    for (std::string x; std::getline(row, x, ',');) f.push_back(x);
    if (f[3] == "0" || f[4] != "0" || f[5] != "1") continue;  // fold, target, found
    ++healthy;
    flagged += std::stod(f[6]) >= threshold;
  }
  ASSERT_GT(healthy, 0);
  EXPECT_LE(flagged, 0.05 * healthy) << flagged << " of " << healthy;
  const Result zero = run_cli(args + " --max-healthy-flag-rate 0");  // a usage error: nothing may be flagged
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.err.find("--max-healthy-flag-rate must be in (0, 1]"), std::string::npos) << zero.err;
}

// --drop-features: the trees and the bundle's section leave those columns out.
TEST(TrainAggregator, DroppedFeaturesAreLeftOutOfTheTreesAndTheBundleReadsTheRest) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.train.exit_code, 0) << p.train.err;
  const auto out = p.tmp / "agg_dropped";
  const std::string args = p.train_aggregator_args_on_cached_records("agg_dropped");
  const Result r = run_cli(args + " --drop-features focal_bright,slice_body_sd");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto spec = nlohmann::json::parse(read_file(out / "aggregator_spec.json"));
  const auto names = spec["features"].get<std::vector<std::string>>();
  EXPECT_EQ(names.size(), spinescan::aggregate::vertebra_feature_names().size() - 2);
  for (const char* dropped : {"focal_bright", "slice_body_sd"})
    EXPECT_EQ(std::count(names.begin(), names.end(), dropped), 0) << dropped;
  const auto m = nlohmann::json::parse(read_file(out / "metrics.json"));
  EXPECT_EQ(m["booster"]["monotone"].size(), names.size());
  EXPECT_FALSE(m["feature_gain"].contains("focal_bright"));
  // A bundle with it analyses a study: the program computes every column, the trees read theirs.
  const auto copy = p.tmp / "bundle_dropped";
  std::filesystem::copy(p.bundle, copy, std::filesystem::copy_options::recursive);
  ASSERT_EQ(run_cli("model add-aggregator " + out.string() + " --bundle " + copy.string()).exit_code, 0);
  const Dataset d = load_dataset(p.data);
  const Result a = run_cli("--threads 2 analyze " + d.case_named(p.heldout_case()).image.string() + " --model " + copy.string() +
                           " --out " + (p.tmp / "dropped_report").string());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto report = nlohmann::json::parse(read_file(p.tmp / "dropped_report/report.json"));
  int judged = 0;
  for (const auto& v : report["vertebrae"]) judged += v["probability"].is_number();
  EXPECT_GT(judged, 0) << report["vertebrae"].dump();
  // A name the program does not compute: a usage error, one line.
  const Result bad = run_cli(args + " --drop-features no_such_feature");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("no_such_feature"), std::string::npos) << bad.err;
}

// --extra-data: another painting of the same cases (here a copy of them) adds its out-of-fold
// records to the training rows, but not to the numbers reported, which stay on --data's bodies.
TEST(TrainAggregator, ExtraPaintingsTrainTheTreesWhileTheNumbersStayOnTheData) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.train.exit_code, 0) << p.train.err;
  const auto copy = p.tmp / "ds_copy", out = p.tmp / "agg_extra";
  std::filesystem::copy(p.data, copy, std::filesystem::copy_options::recursive);
  std::filesystem::create_directories(out);
  std::filesystem::copy_file(p.tmp / "agg/records.jsonl", out / "records.jsonl");
  // The copy's records are the data's under a key naming the copy's path: re-used, not analysed again.
  auto records = spinescan::testing::read_jsonl(p.tmp / "agg/records.jsonl");
  records[0]["data"] = std::filesystem::weakly_canonical(copy).string();
  {
    std::ofstream extra_cache(out / "records_extra1.jsonl");
    for (const auto& line : records) extra_cache << line.dump() << '\n';
  }
  const Result r = run_cli(p.train_aggregator_args() + " --extra-data " + copy.string() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("records_extra1.jsonl"), std::string::npos) << r.err;  // re-used
  const auto alone = nlohmann::json::parse(read_file(p.tmp / "agg/metrics.json"));
  const auto with = nlohmann::json::parse(read_file(out / "metrics.json"));
  // Twice the training rows; fold 0's held-out bodies of the copy are not among them.
  EXPECT_EQ(with["training_vertebrae"].get<int>(), 2 * alone["training_vertebrae"].get<int>());
  for (const char* set : {"heldout_fold", "all_folds"})
    EXPECT_EQ(with[set]["aggregator"]["n"], alone[set]["aggregator"]["n"]) << set;
  const auto lines = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  EXPECT_EQ(lines(read_file(out / "out_of_fold.csv")), lines(read_file(p.tmp / "agg/out_of_fold.csv")));
  EXPECT_EQ(nlohmann::json::parse(read_file(out / "aggregator_spec.json"))["provenance"]["extra_data"].size(), 1u);
  const Result missing = run_cli(p.train_aggregator_args() + " --extra-data " + (p.tmp / "no_such_painting").string() + " --out " +
                                 (p.tmp / "agg_extra2").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
}

TEST(TrainAggregator, DetectorsPerFoldFindTheBoxes) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.train.exit_code, 0) << p.train.err;
  const std::string common = p.train_aggregator_args() + " --detectors ";
  // The bundle's own detector named for every fold: the same records as without --detectors,
  // under a key that names the detectors (so they were computed, not re-used).
  const std::string b = p.bundle.string();
  const Result same = run_cli(common + b + "," + b + "," + b + " --out " + (p.tmp / "agg_det").string());
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(same.err.find("re-using"), std::string::npos) << same.err;
  const auto with = spinescan::testing::read_jsonl(p.tmp / "agg_det/records.jsonl");
  const auto without = spinescan::testing::read_jsonl(p.tmp / "agg/records.jsonl");
  ASSERT_EQ(with.size(), without.size());
  EXPECT_EQ(with[0]["detector_runs"].size(), 3u);
  EXPECT_FALSE(without[0].contains("detector_runs"));
  // A record's level (and whether its study was warned to count the vertebrae) comes from the
  // bundle's level model, which it did not have at the first run; the rest is what the
  // detector and the classifier found.
  for (size_t i = 1; i < with.size(); ++i) {
    auto a = with[i], b = without[i];
    for (auto* r : {&a, &b}) r->erase("level"), r->erase("level_confidence"), r->erase("count_warned");
    EXPECT_EQ(a, b) << "record " << i;
  }
  const auto spec = nlohmann::json::parse(read_file(p.tmp / "agg_det/aggregator_spec.json"));
  EXPECT_EQ(spec["provenance"]["detector_runs"].size(), 3u);
  // Fold 0's detector is looked up in the folder given for it: a classifier run has none.
  const Result no_detector = run_cli(common + p.runs[0] + "," + b + "," + b + " --out " + (p.tmp / "agg_det2").string());
  EXPECT_NE(no_detector.exit_code, 0);
  EXPECT_NE(no_detector.err.find("has no detector"), std::string::npos) << no_detector.err;
  const Result short_list = run_cli(common + b + " --out " + (p.tmp / "agg_det3").string());
  EXPECT_EQ(short_list.exit_code, 2) << short_list.err;
}

TEST(TrainLevels, LearnsFromGroundTruthScoresBesideTheBundlesAndGoesIntoACopy) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_aggregator.exit_code, 0) << p.add_aggregator.err;
  // `train aggregator` has no say in levels any more: its level options are gone.
  const Result old_option = run_cli("train aggregator --data " + p.data.string() + " --split " + p.split.string() + " --classifiers " +
                                    p.runs[0] + "," + p.runs[1] + "," + p.runs[2] + " --model " + p.bundle.string() + " --out " +
                                    (p.tmp / "agg_bad").string() + " --level-examples ground-truth");
  EXPECT_EQ(old_option.exit_code, 2) << old_option.err;

  const auto run = p.tmp / "levels";
  const std::string train_levels = "--threads 2 train levels --data " + p.data.string() + " --split " + p.split.string() +
                                   " --fold 0 --model " + p.bundle.string() + " --out " + run.string() + " --level-net-steps 20";
  const Result r = run_cli(train_levels);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The level net trains in a run of its own (train/training_run.h): the same --out again is
  // refused, and --resume finds that run complete and gives the same level model.
  EXPECT_TRUE(std::filesystem::exists(run / "level_net_run" / "checkpoints" / "last.json"));
  const std::string first_levels = read_file(run / "levels.json");
  const Result again = run_cli(train_levels);
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  const Result resumed = run_cli(train_levels + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_file(run / "levels.json"), first_levels);
  auto levels = nlohmann::json::parse(read_file(run / "levels.json"));
  EXPECT_TRUE(levels.contains("lowest_level"));
  // The level net: its weights beside levels.json, scored on the held-out cases' ground truth
  // (the lowest labelled body and the box one step below), and in the head when the head picks
  // between the lowest labelled level and the one below it (the question the net answers; on
  // these phantoms the weak test detector often misses the lowest body, so the head may pick
  // between it and the one above instead).
  ASSERT_TRUE(levels.contains("head")) << levels.dump();
  EXPECT_TRUE(std::filesystem::exists(run / "level_net.pt"));
  const auto trained = nlohmann::json::parse(read_file(run / "metrics.json"))["level_net"];
  ASSERT_TRUE(trained.contains("description")) << trained.dump();
  EXPECT_EQ(trained["description"]["weights"], "level_net.pt");
  const bool used = levels["head"].contains("level_net");
  EXPECT_EQ(used, trained["used_by_the_head"].get<bool>());
  EXPECT_EQ(used, levels["head"]["alternative_level"] == aggregate::level_above(levels["lowest_level"].get<std::string>(), -1));
  if (!used) {
    // The rest of this test is the net's way into a bundle and into analyze: give it one.
    levels["head"]["level_net"] = trained["description"];
    std::ofstream(run / "levels.json") << levels.dump(2);
  }
  // Three ground-truth examples per training case (6 cases): lowest body, the one above, the one below.
  EXPECT_GE(levels["provenance"]["num_examples"].get<int>(), 12);
  const auto m = nlohmann::json::parse(read_file(run / "metrics.json"));
  const size_t heldout = Splits::load(p.split).folds[0].val.size();
  EXPECT_EQ(m["heldout_fold"]["lowest"].size(), heldout);
  for (const char* which : {"levels", "bundle_levels"}) {
    EXPECT_GT(m["heldout_fold"][which]["n"].get<int>(), 0) << which;
    EXPECT_EQ(m["heldout_fold"][which]["n"], m["heldout_fold"]["levels"]["n"]) << "same vertebrae for both models";
  }
  // The new model carries its held-out accuracy into a bundle.
  EXPECT_EQ(levels["provenance"]["heldout_fold"], m["heldout_fold"]["levels"]);
  {
    // A bundle without a level model has none to compare with.
    const Result bare = run_cli("--threads 2 train levels --data " + p.data.string() + " --split " + p.split.string() +
                                " --fold 0 --model " + p.without_levels("bundle_no_levels").string() + " --out " +
                                (p.tmp / "levels_bare").string());
    ASSERT_EQ(bare.exit_code, 0) << bare.err;
    const auto mb = nlohmann::json::parse(read_file(p.tmp / "levels_bare" / "metrics.json"));
    EXPECT_FALSE(mb["heldout_fold"].contains("bundle_levels"));
    EXPECT_TRUE(mb["bundle_levels_model"].is_null());
    EXPECT_GT(mb["heldout_fold"]["levels"]["n"].get<int>(), 0);
  }
  EXPECT_EQ(m["level_net"]["heldout_ground_truth"].size(), heldout);
  EXPECT_TRUE(m["level_net"]["auc"].is_number()) << m["level_net"].dump();
  EXPECT_EQ(m["heldout_fold"].contains("without_level_net"), used);  // scored without its net when it has one
  // The rule's decision on each held-out case is what names that case's vertebrae.
  for (const auto& row : m["heldout_fold"]["lowest"]) EXPECT_TRUE(row["said"].is_string() && !row["said"].get<std::string>().empty());
  // The net's readings of each lowest body, and whether analyze would warn of a transitional
  // vertebra, are in the rows; the level model saw their mean.
  for (const auto& row : m["heldout_fold"]["lowest"]) {
    ASSERT_TRUE(row.contains("level_net")) << row.dump();
    const auto& r = row["level_net"];
    EXPECT_TRUE(r["direct"].is_number() && r["transitional_warning"].is_boolean()) << row.dump();
    if (r["projected"].is_number())
      EXPECT_NEAR(row["cues"]["level_net_logit"].get<double>(), 0.5 * (r["direct"].get<double>() + r["projected"].get<double>()), 1e-9);
    EXPECT_EQ(r["transitional_warning"].get<bool>(), std::abs(row["cues"]["level_net_logit"].get<double>()) < 0.5 * std::log(0.95 / 0.05)) << row.dump();
  }

  // Into a copy of the bundle: its manifest's "levels" section becomes levels.json, the rest stays.
  const auto copy = p.tmp / "bundle_levels";
  std::filesystem::copy(p.bundle, copy, std::filesystem::copy_options::recursive);
  const auto before = nlohmann::json::parse(read_file(copy / "manifest.json"));
  const Result add = run_cli("model add-levels " + run.string() + " --bundle " + copy.string());
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto after = nlohmann::json::parse(read_file(copy / "manifest.json"));
  EXPECT_EQ(after["levels"], levels);
  after["levels"] = before["levels"];
  EXPECT_EQ(after, before);
  {
    // Bundle assembly in every order: the classifier, the aggregator and the level model put
    // into a bundle holding only the detector give the same bundle whatever the order.
    const std::vector<std::string> steps = {"model add-classifier " + p.runs[0], "model add-aggregator " + (p.tmp / "agg").string(),
                                            "model add-levels " + run.string()};
    std::vector<int> order = {0, 1, 2};
    std::optional<nlohmann::json> first;
    int orders = 0;
    do {
      const auto b = p.tmp / ("bundle_order" + std::to_string(orders++));
      std::filesystem::create_directories(b);
      std::filesystem::copy_file(p.bundle / "detector.pt", b / "detector.pt");
      std::ofstream(b / "manifest.json") << nlohmann::json{{"version", before["version"]}, {"detector", before["detector"]}}.dump(2);
      for (const int k : order) {
        const Result step = run_cli(steps[static_cast<size_t>(k)] + " --bundle " + b.string());
        ASSERT_EQ(step.exit_code, 0) << steps[static_cast<size_t>(k)] << ": " << step.err;
      }
      auto m = nlohmann::json::parse(read_file(b / "manifest.json"));
      EXPECT_EQ(m["levels"], levels) << b;
      EXPECT_TRUE(m.contains("classifier") && m.contains("aggregator")) << b;
      EXPECT_FALSE(m["aggregator"].contains("levels")) << b;
      m["classifier"]["provenance"].erase("packed_by");
      if (!first) first = m;
      EXPECT_EQ(m, *first) << "order " << order[0] << order[1] << order[2];
      // (classifier.pt is a zip whose entry names hold the temporary file's name: its size only)
      for (const char* file : {"aggregator.json", "level_net.pt"})
        EXPECT_TRUE(read_file(b / file) == read_file(p.tmp / "bundle_order0" / file)) << b << " " << file;
      EXPECT_EQ(std::filesystem::file_size(b / "classifier.pt"), std::filesystem::file_size(p.tmp / "bundle_order0" / "classifier.pt"));
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_EQ(orders, 6);
    // A retrained verdict leaves the level model where it is.
    const auto kept = p.tmp / "bundle_kept_levels";
    std::filesystem::copy(copy, kept, std::filesystem::copy_options::recursive);
    const Result keep = run_cli("model add-aggregator " + (p.tmp / "agg").string() + " --bundle " + kept.string());
    ASSERT_EQ(keep.exit_code, 0) << keep.err;
    EXPECT_EQ(nlohmann::json::parse(read_file(kept / "manifest.json"))["levels"], levels);
    // A corrupt manifest is an error that leaves it as it was, never a fresh one without the other stages.
    const auto broken = p.tmp / "bundle_broken_manifest";
    std::filesystem::create_directories(broken);
    std::ofstream(broken / "manifest.json") << "{\"detector\": {";
    const Result corrupt = run_cli("model add-aggregator " + (p.tmp / "agg").string() + " --bundle " + broken.string());
    EXPECT_EQ(corrupt.exit_code, 1) << corrupt.err;
    EXPECT_EQ(read_file(broken / "manifest.json"), "{\"detector\": {");
    EXPECT_FALSE(std::filesystem::exists(broken / "aggregator.json"));
    const Result corrupt_levels = run_cli("model add-levels " + run.string() + " --bundle " + broken.string());
    EXPECT_EQ(corrupt_levels.exit_code, 1) << corrupt_levels.err;
    EXPECT_EQ(read_file(broken / "manifest.json"), "{\"detector\": {");
  }
  const Dataset d = load_dataset(p.data);
  const Result analyzed = run_cli("--threads 2 analyze " + d.case_named(p.heldout_case()).image.string() + " --model " + copy.string() +
                                  " --out " + (p.tmp / "report_levels").string());
  EXPECT_EQ(analyzed.exit_code, 0) << analyzed.err;
  // Named by the level model it now has; the bundle without one says its names are unchecked.
  const auto no_levels_warning = [](const nlohmann::json& report) {
    for (const auto& w : report["warnings"])
      if (w.get<std::string>().rfind("the model bundle has no level model", 0) == 0) return true;
    return false;
  };
  EXPECT_FALSE(no_levels_warning(nlohmann::json::parse(read_file(p.tmp / "report_levels" / "report.json"))));
  const Result unnamed = run_cli("--threads 2 analyze " + d.case_named(p.heldout_case()).image.string() + " --model " +
                                 (p.tmp / "bundle_no_levels").string() + " --out " + (p.tmp / "report_no_levels").string());
  ASSERT_EQ(unnamed.exit_code, 0) << unnamed.err;
  EXPECT_TRUE(no_levels_warning(nlohmann::json::parse(read_file(p.tmp / "report_no_levels" / "report.json"))));
  // A net described as trained with almost no label smoothing has a ceiling far above any
  // reading, so every lowest body looks transitional to it: analyze says so with the reading,
  // and no level name is surer than the reading makes the lowest body.
  {
    auto manifest = nlohmann::json::parse(read_file(copy / "manifest.json"));
    manifest["levels"]["head"]["level_net"]["spec"]["training"]["label_smoothing"] = 1e-9;
    std::ofstream(copy / "manifest.json") << manifest.dump(2);
    const Result warned = run_cli("--threads 2 analyze " + d.case_named(p.heldout_case()).image.string() + " --model " +
                                  copy.string() + " --out " + (p.tmp / "report_transitional").string());
    ASSERT_EQ(warned.exit_code, 0) << warned.err;
    const auto report = nlohmann::json::parse(read_file(p.tmp / "report_transitional" / "report.json"));
    double reading = std::nan("");
    for (const auto& w : report["warnings"]) {
      const std::string text = w;
      const auto at = text.find("the level net reads ");
      if (text.rfind("count the vertebrae: ", 0) == 0 && at != std::string::npos) reading = std::stod(text.substr(at + 20));
    }
    ASSERT_TRUE(std::isfinite(reading)) << report["warnings"].dump();
    for (const auto& v : report["vertebrae"])
      EXPECT_LE(v["level_confidence"].get<double>(), 1 / (1 + std::exp(-std::abs(reading))) + 1e-3) << v.dump();
    manifest["levels"] = levels;
    std::ofstream(copy / "manifest.json") << manifest.dump(2);
  }
  // The net's weights came into the bundle with the level model, and analyze reads them.
  ASSERT_TRUE(std::filesystem::exists(copy / "level_net.pt"));
  std::filesystem::remove(copy / "level_net.pt");
  const Result without_net = run_cli("--threads 2 analyze " + d.case_named(p.heldout_case()).image.string() + " --model " +
                                     copy.string() + " --out " + (p.tmp / "report_no_net").string());
  EXPECT_NE(without_net.exit_code, 0);
  EXPECT_NE(without_net.err.find("level_net.pt"), std::string::npos) << without_net.err;
  // A folder that is no run is refused with one line.
  const Result none = run_cli("model add-levels " + p.tmp.path().string() + " --bundle " + copy.string());
  EXPECT_EQ(none.exit_code, 1) << none.err;

  // One detector per fold (here the bundle's, three times): each fold's cases are read once
  // into the shared records cache, and a second fold's run re-uses them all.
  const std::string detectors = " --detectors " + p.bundle.string() + "," + p.bundle.string() + "," + p.bundle.string();
  const auto cache = p.tmp / "level_records";
  const auto per_fold = [&](int fold) {
    return run_cli("--threads 2 train levels --data " + p.data.string() + " --split " + p.split.string() + " --fold " +
                   std::to_string(fold) + " --model " + p.bundle.string() + detectors + " --records-cache " + cache.string() +
                   " --out " + (p.tmp / ("levels_oof" + std::to_string(fold))).string());
  };
  const Result fold0 = per_fold(0);
  ASSERT_EQ(fold0.exit_code, 0) << fold0.err;
  size_t cached = 0;
  for (const auto& f : std::filesystem::directory_iterator(cache)) cached += f.path().extension() == ".jsonl";
  EXPECT_EQ(cached, Splits::load(p.split).folds.size());
  const Result fold1 = per_fold(1);
  ASSERT_EQ(fold1.exit_code, 0) << fold1.err;
  size_t reused = 0;
  for (size_t at = fold1.err.find("re-using"); at != std::string::npos; at = fold1.err.find("re-using", at + 1)) ++reused;
  EXPECT_EQ(reused, cached) << fold1.err;
  const auto oof = nlohmann::json::parse(read_file(p.tmp / "levels_oof1/metrics.json"));
  EXPECT_EQ(oof["levels_model"]["provenance"]["detector_runs"].size(), 3u);
  EXPECT_EQ(oof["heldout_fold"]["lowest"].size(), Splits::load(p.split).folds[1].val.size());
  const Result short_list = run_cli("train levels --data " + p.data.string() + " --split " + p.split.string() + " --model " +
                                    p.bundle.string() + " --detectors " + p.bundle.string() + " --out " + (p.tmp / "levels_bad").string());
  EXPECT_EQ(short_list.exit_code, 2) << short_list.err;
}

TEST(TrainLevels, TheHeadsProbabilityNamesTheLowestBodyAndSaysWhenItIsUnsure) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_aggregator.exit_code, 0) << p.add_aggregator.err;
  const auto copy = p.tmp / "bundle_head";
  std::filesystem::copy(p.bundle, copy, std::filesystem::copy_options::recursive);
  const Dataset d = load_dataset(p.data);
  const std::string study = d.case_named(p.heldout_case()).image.string();
  // A head that knows nothing (all weights 0: p = 0.5 before the prior), with a prior r: the
  // probability that the lowest body is the level below is r itself.
  auto analyze_with_rate = [&](double rate, const std::string& name, const nlohmann::json& naming = nlohmann::json::object()) {
    auto manifest = nlohmann::json::parse(read_file(copy / "manifest.json"));
    auto& levels = manifest["levels"];
    levels["naming"] = spinescan::levels::LevelNamingOptions{}.to_json();
    for (const auto& [key, value] : naming.items()) levels["naming"][key] = value;
    levels["lowest_level"] = "L5";
    levels["confidence"] = 0.9;
    levels["head"] = {{"alternative_level", "S1"},
                      {"cues", {"signal_vs_neighbours", "slice_body_p50", "slice_inferior_band_minus_body", "slice_disc_below_mean"}},
                      {"logistic_regression", {{"mean", {0, 0, 0, 0}}, {"sd", {1, 1, 1, 1}}, {"weights", {0, 0, 0, 0}}, {"bias", 0}}},
                      {"alternative_rate", rate}};
    std::ofstream(copy / "manifest.json") << manifest.dump(2);
    const Result r = run_cli("--threads 2 analyze " + study + " --model " + copy.string() + " --out " + (p.tmp / name).string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(read_file(p.tmp / name / "report.json"));
  };
  const auto unsure = analyze_with_rate(0.4, "report_unsure");
  const auto sure = analyze_with_rate(0.95, "report_s1");
  ASSERT_FALSE(unsure["vertebrae"].empty());
  ASSERT_EQ(unsure["vertebrae"].size(), sure["vertebrae"].size());
  // p = 0.4: L5, with a warning, and no name surer than the head.
  EXPECT_EQ(unsure["vertebrae"].back()["level"], "L5");
  bool warned = false;
  // One warning that names what the names assume and what else the lowest body may be.
  for (const auto& w : unsure["warnings"])
    warned = warned || (w.get<std::string>().find("the names assume the lowest body found is L5 (the level head gives p = 0.40 for S1") !=
                            std::string::npos &&
                        w.get<std::string>().find("if it is S1 instead") != std::string::npos);
  EXPECT_TRUE(warned) << unsure["warnings"].dump();
  for (const auto& v : unsure["vertebrae"]) EXPECT_LE(v["level_confidence"].get<double>(), 0.6 + 1e-9);
  // The unsure band is the bundle's: narrowed to (0.45, 0.8), p = 0.4 is no longer warned of.
  const auto narrow = analyze_with_rate(0.4, "report_narrow", {{"unsure_p_low", 0.45}});
  for (const auto& w : narrow["warnings"]) EXPECT_EQ(w.get<std::string>().find("level head gives"), std::string::npos) << w;
  for (const auto& v : unsure["vertebrae"]) EXPECT_TRUE(v["probability"].is_number()) << v.dump();
  // p = 0.95: S1, every name one step down the column, no such warning.
  EXPECT_EQ(sure["vertebrae"].back()["level"], "S1");
  for (size_t i = 0; i < sure["vertebrae"].size(); ++i)
    EXPECT_EQ(sure["vertebrae"][i]["level"], aggregate::level_above(unsure["vertebrae"][i]["level"].get<std::string>(), -1)) << i;
  for (const auto& w : sure["warnings"]) EXPECT_EQ(w.get<std::string>().find("level head gives"), std::string::npos) << w;
  // S1, below the lowest level the models learnt from, is named but not judged, and said so;
  // the bodies above keep their verdicts.
  const auto& s1 = sure["vertebrae"].back();
  EXPECT_TRUE(s1["probability"].is_null()) << s1.dump();
  EXPECT_FALSE(s1["pathological"].get<bool>());
  for (size_t i = 0; i + 1 < sure["vertebrae"].size(); ++i)
    EXPECT_EQ(sure["vertebrae"][i]["probability"], unsure["vertebrae"][i]["probability"]) << i;
  bool said = false;
  for (const auto& w : sure["warnings"]) said = said || w.get<std::string>() == "S1 is named but not judged: the models learnt from bodies down to L5 only";
  EXPECT_TRUE(said) << sure["warnings"].dump();
  EXPECT_TRUE(s1["max_slice_probability"].is_null());
  for (const auto& slice : s1["slices"]) EXPECT_FALSE(slice.contains("classifier_probability")) << slice.dump();
  const auto html = read_file(p.tmp / "report_s1" / "report.html");
  EXPECT_NE(html.find("not classified"), std::string::npos);
  // Named S1 but unsure (p = 0.7, warned): the body may be L5, so its verdict stays.
  const auto leaning = analyze_with_rate(0.7, "report_leaning");
  EXPECT_EQ(leaning["vertebrae"].back()["level"], "S1");
  EXPECT_EQ(leaning["vertebrae"].back()["probability"], unsure["vertebrae"].back()["probability"]);
  bool warned_l5 = false;
  for (const auto& w : leaning["warnings"])
    warned_l5 = warned_l5 || (w.get<std::string>().find("the names assume the lowest body found is S1") != std::string::npos &&
                               w.get<std::string>().find("if it is L5 instead") != std::string::npos);
  EXPECT_TRUE(warned_l5) << leaning["warnings"].dump();
}

TEST(Analyze, ReportMatchesThePhantomsTruth) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_classifier.exit_code, 0) << p.add_classifier.err;
  ASSERT_EQ(p.add_aggregator.exit_code, 0) << p.add_aggregator.err;
  const Dataset d = load_dataset(p.data);
  const std::string name = p.heldout_case();
  const auto out = p.tmp / "report";
  const Result r = run_cli("--threads 2 analyze " + d.case_named(name).image.string() + " --model " + p.bundle.string() + " --out " +
                           out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(read_file(out / "report.json"));
  EXPECT_EQ(report["probability_source"], "aggregator");
  EXPECT_EQ(report["model"]["name"], "phantom test bundle");

  // Truth: each labelled body's box on its largest slice, and its level.
  const auto labels = to_canonical(read_label_volume(d.case_named(name).labels));
  const auto per_slice = boxes_per_slice(labels, 1);
  std::map<int, BodyBox> largest;
  std::map<int, int> largest_slice;
  for (size_t k = 0; k < per_slice.size(); ++k)
    for (const auto& b : per_slice[k])
      if (!largest.count(b.label) || b.area_px > largest[b.label].area_px) largest[b.label] = b, largest_slice[b.label] = static_cast<int>(k);
  const auto rows = d.rows_of(name);
  // Each reported vertebra is the labelled body its box covers best, carries that body's
  // level, and spans the body's largest slice. The detector may leave S1 and a body cut by
  // the top of the field of view: at most two bodies missed.
  // The detector left out only slices beyond the column (detect/slice_schedule.h): none of
  // them holds half of a body's largest section.
  for (const auto& k : report["canonical"]["slices_not_examined"]) {
    const auto slice = k.get<size_t>();
    ASSERT_LT(slice, per_slice.size());
    for (const auto& b : per_slice[slice])
      EXPECT_LT(b.area_px, 0.5 * largest[b.label].area_px) << "slice " << slice << " body " << b.label;
  }
  std::set<int> matched;
  const auto& found = report["vertebrae"];
  ASSERT_GE(found.size() + 2, rows.size()) << r.out;
  ASSERT_EQ(report["summary"]["num_vertebrae"].get<size_t>(), found.size());
  int previous_label = 0, first_offset = 0;
  for (size_t i = 0; i < found.size(); ++i) {
    const auto& b = found[i]["box_voxels"];
    double best = 0;
    const VertebraRow* body = nullptr;
    for (const auto& row : rows) {
      const ops::Box& t = largest[row.label].box;
      const double ix = std::min<double>(b["x2"].get<double>(), t.x2) - std::max<double>(b["x1"].get<double>(), t.x1);
      const double iy = std::min<double>(b["y2"].get<double>(), t.y2) - std::max<double>(b["y1"].get<double>(), t.y1);
      const double covered = std::max(0.0, ix) * std::max(0.0, iy) / t.area();
      if (covered > best) best = covered, body = &row;
    }
    ASSERT_NE(body, nullptr) << "vertebra " << i;
    EXPECT_GT(best, 0.7) << "vertebra " << i << " " << b.dump();
    // Counting can be off by one where the detector boxed S1 in a study unlike the training
    // ones (see the file comment), but it must be the same offset all along the column.
    const int offset = aggregate_level_order(found[i]["level"]) - aggregate_level_order(body->level);
    if (i == 0) first_offset = offset;
    EXPECT_EQ(offset, first_offset) << "vertebra " << i << ": levels must be consecutive";
    EXPECT_TRUE(offset == 0 || offset == -1) << "vertebra " << i << " named " << found[i]["level"] << ", truth " << body->level;
    EXPECT_GT(body->label, previous_label) << "superior -> inferior";
    previous_label = body->label;
    EXPECT_TRUE(matched.insert(body->label).second) << "two vertebrae on one body";
    EXPECT_LE(b["z1"].get<int>(), largest_slice[body->label]);
    EXPECT_GT(b["z2"].get<int>(), largest_slice[body->label]);
    const double prob = found[i]["probability"].get<double>();
    EXPECT_TRUE(prob >= 0 && prob <= 1);
    EXPECT_EQ(found[i]["pathological"].get<bool>(), prob >= report["threshold"].get<double>());
    // Only slices cutting a good share of the body are judged (as in training): a box under
    // 30 % of the body's largest box has no classifier probability, and the evidence slice
    // is a judged one.
    double largest_area = 0;
    for (const auto& s : found[i]["slices"]) {
      const auto& px = s["box_pixels"];
      largest_area = std::max(largest_area, (px["x2"].get<double>() - px["x1"].get<double>()) * (px["y2"].get<double>() - px["y1"].get<double>()));
    }
    int judged = 0;
    bool evidence_judged = false;
    for (const auto& s : found[i]["slices"]) {
      const auto& px = s["box_pixels"];
      const double area = (px["x2"].get<double>() - px["x1"].get<double>()) * (px["y2"].get<double>() - px["y1"].get<double>());
      if (!s.contains("classifier_probability")) continue;
      ++judged;
      EXPECT_GE(area, 0.29 * largest_area) << "vertebra " << i << " slice " << s["slice"];
      if (s["slice"] == found[i]["evidence_slice"]) evidence_judged = true;
    }
    EXPECT_GT(judged, 0) << "vertebra " << i;
    EXPECT_TRUE(evidence_judged) << "vertebra " << i;
  }
  const std::string html = read_file(out / "report.html");
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find(found.back()["level"].get<std::string>()), std::string::npos);
  for (const auto& e : std::filesystem::directory_iterator(p.tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial-"), std::string::npos) << e.path();
}

TEST(Analyze, BadInputIsOneLineAndNonZero) {
  Pipeline& p = pipeline();
  const Result missing = run_cli("analyze " + (p.tmp / "nope.nii.gz").string() + " --model " + p.bundle.string() + " --out " +
                                 (p.tmp / "r1").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(p.tmp / "r1"));
  std::filesystem::create_directories(p.tmp / "mine");
  std::ofstream(p.tmp / "mine" / "notes.txt") << "keep me";
  const Dataset d = load_dataset(p.data);
  const Result foreign = run_cli("analyze " + d.case_named(p.heldout_case()).image.string() + " --model " + p.bundle.string() +
                                 " --out " + (p.tmp / "mine").string());
  EXPECT_EQ(foreign.exit_code, 2) << foreign.err;
  EXPECT_EQ(read_file(p.tmp / "mine" / "notes.txt"), "keep me");
}

TEST(Analyze, BFloat16AndInt8DetectorsKeepTheExamplesVerdictsAndTheReportSaysWhichRan) {
  // The shipped bundle on the bundled example, the detector in float, in bfloat16 and in 8-bit
  // integers from the ranges the bundle stores: the same bodies, levels and flags (on fold 0
  // bfloat16 agreed with float on every verdict and 8 bits on all but one of 143,
  // docs/benchmarks.md), probabilities within their rounding, and report.json names the precision.
  const std::filesystem::path source = SPINESCAN_SOURCE_DIR;
  const std::string study = (source / "examples/phantom_study.nii.gz").string();
  const std::string bundle = (source / "models/default").string();
  TempDir tmp;
  std::map<std::string, nlohmann::json> report;
  for (const std::string precision : {"fp32", "bf16", "int8"}) {
    const auto out = tmp / precision;
    const std::string flag = precision == "fp32" ? "" : " --detector-precision " + precision;  // fp32 is the default
    const Result r = run_cli("--threads 2" + flag + " analyze " + study + " --model " + bundle + " --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << precision << ": " << r.err;
    report[precision] = nlohmann::json::parse(read_file(out / "report.json"));
    EXPECT_EQ(report[precision]["model"]["detector_precision"], precision);
  }
  const auto& a = report["fp32"]["vertebrae"];
  for (const char* precision : {"bf16", "int8"}) {
    SCOPED_TRACE(precision);
    const auto& b = report[precision]["vertebrae"];
    ASSERT_EQ(a.size(), b.size());
    ASSERT_GE(a.size(), 4u);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i]["level"], b[i]["level"]) << i;
      EXPECT_EQ(a[i]["pathological"], b[i]["pathological"]) << i;
      // In 8 bits a box scoring near the operating score can fall on the other side of it: on
      // the example, L1's slice 13 (0.312 in float) drops out and L1's probability moves by 0.12.
      const double tolerance = std::string(precision) == "int8" ? 0.15 : 0.05;
      EXPECT_NEAR(a[i]["probability"].get<double>(), b[i]["probability"].get<double>(), tolerance) << i;
    }
  }
  // A bundle whose detector was never calibrated for 8 bits: one line naming the command, exit 1.
  const auto uncalibrated = tmp / "uncalibrated";
  std::filesystem::create_directories(uncalibrated);
  auto manifest = nlohmann::json::parse(read_file(source / "models/default/manifest.json"));
  manifest["detector"].erase("int8");
  for (const auto& entry : std::filesystem::directory_iterator(source / "models/default"))
    if (entry.path().filename() != "manifest.json") std::filesystem::create_symlink(entry.path(), uncalibrated / entry.path().filename());
  std::ofstream(uncalibrated / "manifest.json") << manifest.dump(2);
  const Result no_ranges = run_cli("--detector-precision int8 analyze " + study + " --model " + uncalibrated.string() + " --out " +
                                   (tmp / "no_ranges").string());
  EXPECT_EQ(no_ranges.exit_code, 1) << no_ranges.err;
  EXPECT_NE(no_ranges.err.find("calibrate-int8"), std::string::npos) << no_ranges.err;
  EXPECT_EQ(std::count(no_ranges.err.begin(), no_ranges.err.end(), '\n'), 1) << no_ranges.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "no_ranges"));
  const Result bad = run_cli("--detector-precision fp16 analyze " + study + " --out " + (tmp / "bad").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "bad"));
}

TEST(Analyze, SeveralStudiesInOneRun) {
  Pipeline& p = pipeline();
  const Dataset d = load_dataset(p.data);
  const std::string a = d.cases[0].name, b = d.cases[1].name;
  // Reports are numbered in the order given (file names may identify the patient); a missing
  // study is reported by its number and skipped, and the exit code says one failed.
  const auto out = p.tmp / "batch";
  const Result r = run_cli("--threads 2 analyze " + d.case_named(a).image.string() + " " + (p.tmp / "nope.nii.gz").string() + " " +
                           d.case_named(b).image.string() + " --model " + p.bundle.string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto error_at = r.err.find("error: ");
  ASSERT_NE(error_at, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("error: ", error_at + 1), std::string::npos) << "one error line: " << r.err;
  EXPECT_NE(r.err.find("study 2", error_at), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("nope"), std::string::npos) << "the path stays out of the message: " << r.err;
  EXPECT_NE(r.out.find("2 of 3 studies analysed"), std::string::npos) << r.out;
  const std::map<std::string, std::string> folder_of = {{a, "study_001"}, {b, "study_003"}};
  for (const auto& [name, folder] : folder_of) {
    const auto report = nlohmann::json::parse(read_file(out / folder / "report.json"));
    EXPECT_GT(report["summary"]["num_vertebrae"].get<int>(), 0) << name;
    // The same numbers as a run on that study alone.
    const Result alone = run_cli("--threads 2 analyze " + d.case_named(name).image.string() + " --model " + p.bundle.string() +
                                 " --out " + (p.tmp / ("alone_" + name)).string());
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    const auto single = nlohmann::json::parse(read_file(p.tmp / ("alone_" + name) / "report.json"));
    EXPECT_EQ(report["vertebrae"], single["vertebrae"]) << name;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(out), std::filesystem::directory_iterator()), 2);
  // --keep-identifiers: every case's image is image.nii.gz, so the reports are named after the
  // case folders, and the message names the missing file.
  const auto named = p.tmp / "batch_named";
  const Result k = run_cli("--threads 2 analyze " + d.case_named(a).image.string() + " " + (p.tmp / "nope.nii.gz").string() + " " +
                           d.case_named(b).image.string() + " --model " + p.bundle.string() + " --out " + named.string() +
                           " --keep-identifiers");
  EXPECT_EQ(k.exit_code, 1) << k.err;
  EXPECT_NE(k.err.find("nope.nii.gz"), std::string::npos) << k.err;
  for (const auto& name : {a, b}) EXPECT_TRUE(std::filesystem::exists(named / name / "report.json")) << name;
  // Two studies that would share a report folder: refused before anything is written.
  for (const std::string flags : {"", " --keep-identifiers"}) {
    const Result clash = run_cli("analyze " + d.case_named(a).image.string() + " " + d.case_named(a).image.string() + " --model " +
                                 p.bundle.string() + " --out " + (p.tmp / "clash").string() + flags);
    EXPECT_EQ(clash.exit_code, 2) << clash.err;
    EXPECT_FALSE(std::filesystem::exists(p.tmp / "clash"));
  }
}

TEST(Evaluate, EndToEndMetricsOnHeldOutPhantoms) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_aggregator.exit_code, 0);
  const auto out = p.tmp / "eval";
  const Result r = run_cli("--threads 2 evaluate --data " + p.data.string() + " --split " + p.split.string() + " --fold 0 --model " +
                           p.bundle.string() + " --out " + out.string() + " --reports 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = nlohmann::json::parse(read_file(out / "metrics.json"));
  EXPECT_EQ(m["cases"].size(), 3u);
  EXPECT_GT(m["detection"]["mean_iou"].get<double>(), 0.4);  // every slice, lateral slivers included
  EXPECT_GT(m["levels"]["n"].get<int>(), 10);
  // Every body but S1 and a body cut by the field of view.
  EXPECT_GE(m["vertebrae_3d"]["found"].get<int>(), m["vertebrae_3d"]["truth"].get<int>() - 6);
  for (const char* key : {"vertebra", "vertebra_max_over_slices"}) {
    const auto& x = m["classification"][key];
    EXPECT_GT(x["n"].get<int>(), 0);
    EXPECT_TRUE(x["ci95"].contains("f1")) << key;
  }
  EXPECT_EQ(m["per_case"].size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(out / "vertebrae.csv"));
  EXPECT_TRUE(std::filesystem::exists(out / "reports" / m["cases"][0].get<std::string>() / "report.html"));
}

TEST(Evaluate, PoolOfEvaluationsScoresAsTheJointEvaluation) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_aggregator.exit_code, 0);
  const auto cases = Splits::load(p.split).folds[0].val;
  ASSERT_GE(cases.size(), 3u);
  auto evaluate = [&](const std::string& list, const std::string& name) {
    const Result r = run_cli("--threads 2 evaluate --data " + p.data.string() + " --cases " + list + " --model " + p.bundle.string() +
                             " --out " + (p.tmp / name).string() + " --reports 0");
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  evaluate(cases[0] + "," + cases[1] + "," + cases[2], "pool_joint");
  evaluate(cases[0], "pool_a");
  evaluate(cases[1] + "," + cases[2], "pool_bc");
  const Result r = run_cli("evaluate pool " + (p.tmp / "pool_a").string() + " " + (p.tmp / "pool_bc").string() + " --out " +
                           (p.tmp / "pool").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 runs, 3 cases"), std::string::npos) << r.out;
  const auto joint = nlohmann::json::parse(read_file(p.tmp / "pool_joint/metrics.json"));
  const auto pooled = nlohmann::json::parse(read_file(p.tmp / "pool/metrics.json"));
  // The same vertebrae at the same threshold: every verdict number and interval as if evaluated at once.
  std::function<void(const nlohmann::json&, const nlohmann::json&, const std::string&)> same =
      [&](const nlohmann::json& a, const nlohmann::json& b, const std::string& where) {
        ASSERT_EQ(a.type(), b.type()) << where;
        if (a.is_object()) {
          ASSERT_EQ(a.size(), b.size()) << where;
          for (const auto& [k, v] : a.items()) {
            ASSERT_TRUE(b.contains(k)) << where << "." << k;
            same(v, b[k], where + "." + k);
          }
        } else if (a.is_array()) {
          ASSERT_EQ(a.size(), b.size()) << where;
          for (size_t i = 0; i < a.size(); ++i) same(a[i], b[i], where + "[" + std::to_string(i) + "]");
        } else if (a.is_number_float()) {
          EXPECT_NEAR(a.get<double>(), b.get<double>(), 1e-9) << where;
        } else {
          EXPECT_EQ(a, b) << where;
        }
      };
  for (const char* key : {"by_source", "healthy_flag_rate_by_source", "calibration", "vertebrae_3d"}) same(joint[key], pooled[key], key);
  same(joint["classification"]["vertebra"], pooled["classification"]["vertebra"], "classification.vertebra");
  EXPECT_GT(pooled["classification"]["vertebra"]["n"].get<int>(), 10);
  EXPECT_EQ(pooled["threshold"], joint["model"]["threshold"]);
  EXPECT_TRUE(std::filesystem::exists(p.tmp / "pool/calibration.svg"));

  // Runs of bundles with different thresholds (five folds, each with its own aggregator): refused
  // unless asked, then each run's vertebrae judged at its own threshold.
  const auto other = p.tmp / "pool_bc_other";
  std::filesystem::remove_all(other);
  std::filesystem::copy(p.tmp / "pool_bc", other);
  auto other_metrics = nlohmann::json::parse(read_file(other / "metrics.json"));
  const double shared_t = joint["model"]["threshold"].get<double>(), other_t = 0.0;  // every body of the second run flagged
  other_metrics["model"]["threshold"] = other_t;
  std::ofstream(other / "metrics.json") << other_metrics.dump(2);
  const std::string mixed_runs = (p.tmp / "pool_a").string() + " " + other.string();
  const Result mixed = run_cli("evaluate pool " + mixed_runs + " --out " + (p.tmp / "pool_mixed").string());
  EXPECT_NE(mixed.exit_code, 0);
  EXPECT_NE(mixed.err.find("--per-run-thresholds"), std::string::npos) << mixed.err;
  EXPECT_FALSE(std::filesystem::exists(p.tmp / "pool_mixed"));
  const Result per_run = run_cli("evaluate pool --per-run-thresholds " + mixed_runs + " --out " + (p.tmp / "pool_mixed").string());
  ASSERT_EQ(per_run.exit_code, 0) << per_run.err;
  EXPECT_NE(per_run.out.find("each run at its own threshold"), std::string::npos) << per_run.out;
  const auto mixed_m = nlohmann::json::parse(read_file(p.tmp / "pool_mixed/metrics.json"));
  EXPECT_EQ(mixed_m["threshold"], "per run");
  // Expected counts from the two vertebrae.csv files, each row at its run's threshold.
  int expected_flagged = 0, labelled = 0;
  for (const auto& [run, t] : std::vector<std::pair<std::filesystem::path, double>>{{p.tmp / "pool_a", shared_t}, {other, other_t}}) {
    const auto rows = read_csv_file(run / "vertebrae.csv");
    const auto& header = rows.at(0);
    const auto column = [&](const std::string& name) {
      return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
    };
    for (size_t i = 1; i < rows.size(); ++i) {
      const auto& f = rows[i];
      if (std::stoi(f.at(column("target"))) < 0) continue;
      ++labelled;
      expected_flagged += std::stod(f.at(column("probability"))) >= t;
    }
  }
  const auto& v = mixed_m["classification"]["vertebra"];
  EXPECT_EQ(v["n"].get<int>(), labelled);
  EXPECT_EQ(v["tp"].get<int>() + v["fp"].get<int>(), expected_flagged);
  const auto& shared_v = pooled["classification"]["vertebra"];
  EXPECT_NE(shared_v["tp"].get<int>() + shared_v["fp"].get<int>(), expected_flagged) << "the test must tell the two apart";
  EXPECT_NEAR(v["auc"].get<double>(), pooled["classification"]["vertebra"]["auc"].get<double>(), 1e-9);

  // A case in two runs would count as two patients in the bootstrap: refused, nothing written.
  const Result twice = run_cli("evaluate pool " + (p.tmp / "pool_a").string() + " " + (p.tmp / "pool_joint").string() + " --out " +
                               (p.tmp / "pool_twice").string());
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find(cases[0]), std::string::npos) << twice.err;
  EXPECT_FALSE(std::filesystem::exists(p.tmp / "pool_twice"));
  // Not an evaluation folder: one line, exit 1 or 2, nothing written.
  const Result bad = run_cli("evaluate pool " + p.data.string() + " --out " + (p.tmp / "pool_bad").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("metrics.json"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(p.tmp / "pool_bad"));
}

TEST(TrainOod, FitsOnTrainingCasesScoresEveryCaseAndWithholdsVerdictsAboveItsThreshold) {
  Pipeline& p = pipeline();
  ASSERT_EQ(p.add_aggregator.exit_code, 0) << p.add_aggregator.err;
  const auto run = p.tmp / "ood";
  const Result r = run_cli("--threads 2 train ood --data " + p.data.string() + " --split " + p.split.string() + " --fold 0 --model " +
                           p.bundle.string() + " --out " + run.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = nlohmann::json::parse(read_file(run / "metrics.json"));
  const auto folds = Splits::load(p.split).folds;
  EXPECT_EQ(m["fitted_cases"].size(), folds[0].train.size());
  EXPECT_EQ(m["cases"].size(), folds[0].train.size() + folds[0].val.size());
  for (const auto& c : m["cases"])
    if (c["set"] == "fitted") EXPECT_FALSE(c["above_threshold"].get<bool>()) << c.dump() << ": a margin over the highest training score";
  const auto ood = nlohmann::json::parse(read_file(run / "ood.json"));
  EXPECT_EQ(ood["features"], nlohmann::json(aggregate::level_cue_feature_names()));

  // Into a copy of the bundle; analyze then reports the score beside its threshold.
  const auto copy = p.tmp / "bundle_ood";
  std::filesystem::copy(p.bundle, copy, std::filesystem::copy_options::recursive);
  ASSERT_EQ(run_cli("model add-ood " + run.string() + " --bundle " + copy.string()).exit_code, 0);
  const Dataset d = load_dataset(p.data);
  const std::string study = d.case_named(p.heldout_case()).image.string();
  const Result a = run_cli("--threads 2 analyze " + study + " --model " + copy.string() + " --out " + (p.tmp / "ood_report").string());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto report = nlohmann::json::parse(read_file(p.tmp / "ood_report/report.json"));
  EXPECT_NEAR(report["out_of_distribution"]["threshold"].get<double>(), ood["threshold"].get<double>(), 1e-3);
  EXPECT_TRUE(report["out_of_distribution"]["score"].is_number());

  // A reference every study is unlike: bodies found and named, none judged, and said so.
  auto strict = ood;
  strict["threshold"] = 1e-9;
  std::filesystem::create_directories(p.tmp / "ood_strict");
  std::ofstream(p.tmp / "ood_strict/ood.json") << strict.dump();
  ASSERT_EQ(run_cli("model add-ood " + (p.tmp / "ood_strict").string() + " --bundle " + copy.string()).exit_code, 0);
  const Result w = run_cli("--threads 2 analyze " + study + " --model " + copy.string() + " --out " + (p.tmp / "ood_withheld").string());
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const auto withheld = nlohmann::json::parse(read_file(p.tmp / "ood_withheld/report.json"));
  EXPECT_TRUE(withheld["out_of_distribution"]["verdicts_withheld"].get<bool>());
  ASSERT_FALSE(withheld["vertebrae"].empty());
  for (const auto& v : withheld["vertebrae"]) {
    EXPECT_TRUE(v["probability"].is_null()) << v.dump();
    EXPECT_FALSE(v["pathological"].get<bool>());
    EXPECT_TRUE(v["level"].is_string());
  }
  EXPECT_EQ(w.out.find("FLAGGED"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("warning: no verdicts: this study looks unlike"), std::string::npos) << w.out;

  // A malformed reference never reaches a bundle.
  strict["scale"] = "wide";
  std::ofstream(p.tmp / "ood_strict/ood.json") << strict.dump();
  const Result bad = run_cli("model add-ood " + (p.tmp / "ood_strict").string() + " --bundle " + copy.string());
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("malformed"), std::string::npos) << bad.err;

  // The same check on the classifier's own features: fitted with the bundle's classifier and
  // named by the digest of its manifest section, scored beside the appearance score.
  ASSERT_TRUE(ood.contains("classifier_embedding")) << ood.dump();
  const auto bundle_manifest = nlohmann::json::parse(read_file(p.bundle / "manifest.json"));
  EXPECT_EQ(ood["classifier_embedding"]["classifier_digest"], aggregate::section_digest(bundle_manifest["classifier"]));
  EXPECT_TRUE(report["out_of_distribution"]["classifier_features_score"].is_number()) << report["out_of_distribution"].dump();
  EXPECT_NEAR(report["out_of_distribution"]["classifier_features_threshold"].get<double>(),
              ood["classifier_embedding"]["threshold"].get<double>(), 1e-3);
  for (const auto& c : m["cases"]) {
    EXPECT_TRUE(c["classifier_features_score"].is_number()) << c.dump();
    if (c["set"] == "fitted") EXPECT_FALSE(c["classifier_features_above_threshold"].get<bool>()) << c.dump();
  }
  // Above its threshold (the appearance one not crossed) no vertebra is judged, and the reason is said.
  auto strict_features = ood;
  strict_features["classifier_embedding"]["threshold"] = 1e-9;
  std::ofstream(p.tmp / "ood_strict/ood.json") << strict_features.dump();
  ASSERT_EQ(run_cli("model add-ood " + (p.tmp / "ood_strict").string() + " --bundle " + copy.string()).exit_code, 0);
  const Result f = run_cli("--threads 2 analyze " + study + " --model " + copy.string() + " --out " + (p.tmp / "ood_features").string());
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const auto unlike = nlohmann::json::parse(read_file(p.tmp / "ood_features/report.json"));
  EXPECT_TRUE(unlike["out_of_distribution"]["verdicts_withheld"].get<bool>());
  for (const auto& v : unlike["vertebrae"]) EXPECT_TRUE(v["probability"].is_null()) << v.dump();
  EXPECT_NE(f.out.find("the classifier sees these bodies unlike"), std::string::npos) << f.out;
  // evaluate names such a study, so that its unjudged bodies are not read as misses of the classifier.
  const Result e = run_cli("--threads 2 evaluate --data " + p.data.string() + " --cases " + p.heldout_case() + " --model " +
                           copy.string() + " --out " + (p.tmp / "ood_eval").string());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(p.tmp / "ood_eval/metrics.json"))["verdicts_withheld"], nlohmann::json::array({p.heldout_case()}));
  EXPECT_NE(e.out.find("no verdicts for " + p.heldout_case()), std::string::npos) << e.out;

  // Another classifier put into the bundle drops the reference on the old one's features; a
  // reference fitted with another classifier is refused by add-ood and by analyze.
  const std::string other_classifier = (p.tmp / "cls1").string();
  ASSERT_EQ(run_cli("model add-classifier " + other_classifier + " --bundle " + copy.string()).exit_code, 0);
  auto swapped = nlohmann::json::parse(read_file(copy / "manifest.json"));
  EXPECT_FALSE(swapped["ood"].contains("classifier_embedding")) << swapped["ood"].dump();
  EXPECT_TRUE(swapped["ood"].contains("threshold"));
  const Result stale = run_cli("model add-ood " + (p.tmp / "ood_strict").string() + " --bundle " + copy.string());
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_NE(stale.err.find("fitted with another classifier"), std::string::npos) << stale.err;
  swapped["ood"]["classifier_embedding"] = strict_features["classifier_embedding"];
  std::ofstream(copy / "manifest.json") << swapped.dump(2);
  const Result refused = run_cli("--threads 2 analyze " + study + " --model " + copy.string() + " --out " + (p.tmp / "ood_stale").string());
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("fitted with another classifier"), std::string::npos) << refused.err;
}
