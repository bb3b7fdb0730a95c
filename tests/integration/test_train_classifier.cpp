// Training, evaluating and tuning the classifier end to end on a tiny phantom dataset with
// the "micro" ConvNeXt (CI checks the machinery and that learning happens, not accuracy).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "spinescan/classify/classifier.h"
#include "spinescan/classify/evaluate.h"
#include "spinescan/classify/train.h"
#include "spinescan/core/errors.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/lesions.h"
#include "spinescan/data/splits.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::read_jsonl;
using spinescan::testing::TempDir;

namespace {

struct Fixture {
  TempDir tmp;
  std::filesystem::path data = tmp / "ds", split = tmp / "splits.json";
  Fixture() { spinescan::testing::write_phantom_dataset_with_splits(data, split, 6, 41, 0.4, 2); }
  classify::ClassifierTrainConfig config(const std::string& out) const {
    classify::ClassifierTrainConfig c;
    c.data = data.string();
    c.split = split.string();
    c.out = (tmp / out).string();
    c.preset = "micro";
    c.crop_size = 32;
    c.batch = 16;
    c.samples_per_epoch = 64;
    c.epochs = 6;
    c.lr = 3e-3;
    c.inner_val_cases = 1;
    c.patience = 10;
    c.augment = 0;  // a few dozen steps: learning the crops themselves must lower the loss
    c.device = "cpu";
    return c;
  }
};

}  // namespace

TEST(TrainClassifier, LossFallsAndTheRunFolderIsComplete) {
  Fixture f;
  auto c = f.config("run");
  c.epochs = 8;
  c.samples_per_epoch = 160;
  const auto r = classify::train_classifier(c);
  EXPECT_EQ(r.epochs_done, 8);
  EXPECT_LT(r.last_loss, 0.85 * r.first_loss) << "loss " << r.first_loss << " -> " << r.last_loss;
  const std::filesystem::path run = c.out;
  for (const char* name : {"config.json", "metrics.jsonl", "result.json", "checkpoints/last.json", "best/manifest.json",
                           "best/classifier.pt"})
    EXPECT_TRUE(std::filesystem::exists(run / name)) << name;
  const auto config = nlohmann::json::parse(read_file(run / "config.json"));
  for (const auto& h : config["heldout_cases"]) {
    for (const auto& t : config["train_cases"]) EXPECT_NE(h, t);
    for (const auto& v : config["inner_val_cases"]) EXPECT_NE(h, v);
  }
  const auto manifest = nlohmann::json::parse(read_file(run / "best/manifest.json"));
  EXPECT_EQ(manifest["classifier"]["preset"], "micro");
  EXPECT_EQ(manifest["classifier"]["crop"]["size"], 32);
  const auto result = nlohmann::json::parse(read_file(run / "result.json"));
  EXPECT_EQ(result["epochs_done"], 8);
  EXPECT_EQ(read_jsonl(run / "metrics.jsonl").size(), 8u);
  EXPECT_THROW(classify::train_classifier(c), ConfigError);  // refuses to overwrite without --resume
}

TEST(TrainClassifier, ResumeRepeatsTheInterruptedEpochExactly) {
  Fixture f;
  auto full = f.config("full");
  full.epochs = 3;
  classify::train_classifier(full);
  auto part = f.config("part");
  part.epochs = 3;
  part.max_steps = 6;  // 4 steps per epoch: stops in the middle of epoch 2
  EXPECT_EQ(classify::train_classifier(part).epochs_done, 1);
  part.max_steps = 0;
  part.resume = true;
  EXPECT_EQ(classify::train_classifier(part).epochs_done, 3);
  const auto a = read_jsonl(std::filesystem::path(full.out) / "metrics.jsonl");
  const auto b = read_jsonl(std::filesystem::path(part.out) / "metrics.jsonl");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t e = 0; e < 3; ++e) EXPECT_NEAR(a[e]["loss"].get<double>(), b[e]["loss"].get<double>(), 1e-4) << "epoch " << e + 1;
}

TEST(TrainClassifier, KilledAtTwentyRandomMomentsEachRunResumesToTheUninterruptedResult) {
  // Issue 20, section 6: as the detector's test (tests/test_util.h), for `train classifier`.
  Fixture f;
  const std::string args = "-q --threads 1 train classifier --data " + f.data.string() + " --split " + f.split.string() +
                           " --fold 0 --preset micro --crop-size 32 --batch 16 --samples-per-epoch 64 --epochs 4 --lr 3e-3"
                           " --inner-val-cases 1 --patience 10 --augment 0 --device cpu --seed 0";
  EXPECT_GE(spinescan::testing::expect_killed_runs_resume_to_the_whole_result(f.tmp.path(), args, {"loss", "val_within_source_auc"}, 1e-4), 15);
}

TEST(TrainClassifier, ExtraPaintingsAreDrawnFromAndMustHoldTheTrainingCases) {
  Fixture f;
  auto plain = f.config("plain");
  plain.epochs = 1;
  auto doubled = f.config("doubled");
  doubled.epochs = 1;
  // Another "painting" of the same cases: the same case names, other bodies and labels (a
  // phantom set of another seed). An exact copy would not do: the sampler's draws from the
  // doubled list land on the copies of what it drew before.
  const auto repainted = f.tmp / "repainted";
  auto o = spinescan::testing::small_phantom_options();
  o.pathology_probability = 0.4;
  write_phantom_dataset(repainted, 6, 99, o, false);
  doubled.extra_data = {repainted.string()};
  const auto a = classify::train_classifier(plain), b = classify::train_classifier(doubled);
  EXPECT_NE(a.first_loss, b.first_loss);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(doubled.out) / "config.json"))["extra_data"],
            nlohmann::json::array({repainted.string()}));
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(plain.out) / "config.json"))["extra_data"], nlohmann::json::array());
  // The other painting's copies of the inner-validation cases join the inner validation on request.
  auto wider = f.config("wider_val");
  wider.epochs = 1;
  wider.extra_data = {repainted.string()};
  wider.inner_val_all_paintings = true;
  classify::train_classifier(wider);
  auto val_vertebrae = [](const std::string& out) {
    return nlohmann::json::parse(read_file(std::filesystem::path(out) / "best/manifest.json"))["classifier"]["provenance"]
        ["inner_validation"]["vertebrae"].get<int>();
  };
  EXPECT_EQ(val_vertebrae(doubled.out), val_vertebrae(plain.out));  // without the flag: --data's painting only
  EXPECT_GT(val_vertebrae(wider.out), val_vertebrae(plain.out));
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(wider.out) / "config.json"))["inner_val_all_paintings"], true);
  auto alone = f.config("alone");
  alone.inner_val_all_paintings = true;  // no other painting to read
  EXPECT_THROW(classify::train_classifier(alone), ConfigError);
  EXPECT_FALSE(std::filesystem::exists(alone.out)) << "refused before a run folder is made";
  // A dataset without the training cases (one case only) cannot stand in for them.
  const auto others = f.tmp / "others";
  write_phantom_dataset(others, 1, 77, spinescan::testing::small_phantom_options(), false);
  auto wrong = f.config("wrong");
  wrong.extra_data = {others.string()};
  EXPECT_ANY_THROW(classify::train_classifier(wrong));
}

// Counterfactual pairs (issue 18): each painted crop is ranked against the same crop of the
// unpainted source. The pair term starts at log 2 (the two crops score alike) and can only
// fall by responding to the lesion: were the twin cut from the painted volume, it would stay
// at log 2 exactly. A marrow-wide finding, so that 48 steps of the micro net can learn it (on
// the phantoms' focal lesions it does not in that time, as on real metastases).
TEST(TrainClassifier, PairedTermRanksEachPaintedCropAboveItsUnpaintedTwin) {
  Fixture f;
  LesionOptions lesions;
  lesions.fraction = 0.6;
  lesions.source_labels = "healthy";
  lesions.findings = {"diffuse_infiltration"};
  lesions.subtle_fraction = 0;
  const auto painted = f.tmp / "painted";
  write_lesion_dataset(f.data, painted, 5, lesions, false);
  auto plain = f.config("plain");
  plain.data = painted.string();
  plain.epochs = 12;
  auto paired = plain;
  paired.out = (f.tmp / "paired").string();
  paired.unpainted_data = f.data.string();
  paired.pair_weight = 1;
  const auto a = classify::train_classifier(plain), b = classify::train_classifier(paired);
  const auto lines = read_jsonl(std::filesystem::path(paired.out) / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 12u);
  // The main stream draws as unpaired: the first epoch's cross-entropy part is the plain run's
  // loss but for what the pair term's gradient changed from the second step on.
  EXPECT_NEAR(lines.front()["loss_bce"].get<double>(), a.first_loss, 0.1);
  EXPECT_NEAR(lines.front()["loss_pair"].get<double>(), std::log(2.0), 0.1);
  EXPECT_LT(lines.back()["loss_pair"].get<double>(), 0.45) << "the pairs were never told apart";
  EXPECT_NEAR(b.last_loss, lines.back()["loss_bce"].get<double>() + lines.back()["loss_pair"].get<double>(), 1e-6);
  const auto config = nlohmann::json::parse(read_file(std::filesystem::path(paired.out) / "config.json"));
  EXPECT_EQ(config["pair_weight"], 1.0);
  EXPECT_EQ(config["unpainted_data"], f.data.string());
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(plain.out) / "config.json"))["pair_weight"], 0.0);
  auto half = f.config("half");
  half.pair_weight = 1;  // no source named
  EXPECT_THROW(classify::train_classifier(half), ConfigError);
  auto unpainted = f.config("unpainted");  // --data holds no painted body to pair
  unpainted.unpainted_data = f.data.string();
  unpainted.pair_weight = 1;
  EXPECT_THROW(classify::train_classifier(unpainted), DataError);
  auto elsewhere = paired;  // a source without the training cases
  elsewhere.out = (f.tmp / "elsewhere").string();
  const auto others = f.tmp / "others";
  write_phantom_dataset(others, 1, 77, spinescan::testing::small_phantom_options(), false);
  elsewhere.unpainted_data = others.string();
  EXPECT_ANY_THROW(classify::train_classifier(elsewhere));
}

// The maximum over a finer stage (issue 18) is part of the network: the bundle must say so, or
// loading it would build a head of the wrong width.
TEST(TrainClassifier, AMaxPoolStageIsStoredInTheBundleAndLoadsBack) {
  Fixture f;
  auto c = f.config("max_pool");
  c.max_pool_stage = 2;
  c.epochs = 1;
  classify::train_classifier(c);
  const std::filesystem::path run = c.out;
  EXPECT_EQ(nlohmann::json::parse(read_file(run / "config.json"))["max_pool_stage"], 2);
  EXPECT_EQ(nlohmann::json::parse(read_file(run / "best/manifest.json"))["classifier"]["options"]["max_pool_stage"], 2);
  auto loaded = classify::load_classifier(run);
  EXPECT_EQ(loaded.spec.model.max_pool_stage, 2);
  const auto& dims = loaded.spec.model.dims;
  const int64_t crop_floats = 32 * 32;
  const auto out = classify::classifier_outputs(loaded.net, {std::vector<float>(crop_floats, 0.5f)}, loaded.spec.crop, torch::kCPU);
  ASSERT_EQ(out.embeddings.size(), 1u);
  EXPECT_EQ(static_cast<int>(out.embeddings[0].size()), dims[3] + dims[2]);
  // Without the option the bundle holds nothing new, so older bundles read back the same.
  auto plain = f.config("plain");
  plain.epochs = 1;
  classify::train_classifier(plain);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(plain.out) / "config.json"))["max_pool_stage"], -1);
  EXPECT_FALSE(nlohmann::json::parse(read_file(std::filesystem::path(plain.out) / "best/manifest.json"))["classifier"]["options"]
                   .contains("max_pool_stage"));
  EXPECT_EQ(classify::load_classifier(plain.out).spec.model.max_pool_stage, -1);
}

TEST(TrainClassifier, ParamsFilesSetKnownKeysAndExplicitFlagsWin) {
  classify::ClassifierTrainConfig c;
  classify::apply_params(c, {{"lr", 0.01}, {"preset", "femto"}, {"crop_size", 96}}, {"crop_size"});
  EXPECT_DOUBLE_EQ(c.lr, 0.01);
  EXPECT_EQ(c.preset, "femto");
  EXPECT_EQ(c.crop_size, 64);  // kept: given on the command line
  classify::apply_params(c, {{"max_pool_stage", 2}});
  EXPECT_EQ(c.max_pool_stage, 2);
  EXPECT_THROW(classify::apply_params(c, {{"learning_rate", 0.1}}), ConfigError);
  EXPECT_THROW(classify::apply_params(c, {{"lr", "fast"}}), ConfigError);
}

TEST(EvaluateClassifier, WritesMetricsPlotsAndPredictionsForTheModelAndTheBaseline) {
  Fixture f;
  auto c = f.config("run");
  c.epochs = 2;
  classify::train_classifier(c);
  for (bool baseline : {false, true}) {
    classify::ClassifierEvalConfig e;
    e.data = f.data.string();
    e.model = baseline ? "" : c.out;
    e.baseline = baseline;
    e.split = f.split.string();
    e.fold = 0;
    e.out = (f.tmp / (baseline ? "eval_baseline" : "eval")).string();
    const auto m = nlohmann::json::parse(classify::evaluate_classifier(e));
    for (const char* level : {"slice", "vertebra_max", "vertebra_mean"})
      for (const char* k : {"accuracy", "precision", "recall", "f1", "auc"})
        EXPECT_TRUE(m["classification"][level].contains(k)) << level << "." << k;
    EXPECT_GT(m["classification"]["vertebra_max"]["n"].get<int>(), 0);
    EXPECT_TRUE(m["by_source"].contains("phantom"));
    for (const char* name : {"metrics.json", "predictions.csv", "slices.csv", "roc.svg", "calibration.svg"})
      EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(e.out) / name)) << name;
    // One CSV row per labelled vertebra at least (header + rows).
    const std::string csv = read_file(std::filesystem::path(e.out) / "predictions.csv");
    EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), m["classification"]["vertebra_max"]["n"].get<int>());
  }
}

namespace {

// The processes whose command line names `needle` (a run folder): a killed study must leave no
// training child writing into a trial folder the resumed study reuses.
std::vector<std::string> processes_naming(const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
    std::string cmdline;
    try {
      cmdline = read_file(proc.path() / "cmdline");
    } catch (...) {
      continue;  // ended meanwhile
    }
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) found.push_back(proc.path().filename().string() + ": " + cmdline);
  }
  return found;
}

// trials.csv rows (trial, state, value, seconds, parameters...) of the trials that completed,
// without trial number and seconds: what an uninterrupted and a resumed study must share.
std::vector<std::string> completed_trials(const std::filesystem::path& trials_csv) {
  std::vector<std::string> rows;
  std::istringstream lines(read_file(trials_csv));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    if (cells.size() < 4 || cells[1] != "COMPLETE") continue;
    std::string row = cells[2];
    for (size_t i = 4; i < cells.size(); ++i) row += "," + cells[i];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(TuneClassifier, KilledAtTwentyRandomMomentsTheStudyResumesToTheUninterruptedResult) {
  // Issue 20, section 6, for `tune classifier`: the Optuna driver, its trial's training child
  // and the SQLite study are killed together at a seeded random moment, and the same command
  // run again must finish the study with what an uninterrupted study found: each trial's
  // parameters and value, and the best. At most the running trial is lost (it is re-run from
  // its last checkpoint, and counted as INTERRUPTED in trials.csv).
  Fixture f;
  const std::string args = "-q --threads 1 tune classifier --data " + f.data.string() + " --split " + f.split.string() +
                           " --study-name t --trials 2 --epochs 2 --samples-per-epoch 32 --inner-val-cases 1 --device cpu";
  auto study = [&](const std::string& name) {
    return " --out " + (f.tmp / name).string() + " --study-db " + (f.tmp / (name + ".db")).string();
  };
  const auto started = std::chrono::steady_clock::now();
  const auto whole_run = spinescan::testing::run_cli(args + study("full"));
  ASSERT_EQ(whole_run.exit_code, 0) << whole_run.err;
  const auto whole_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const auto whole_best = nlohmann::json::parse(read_file(f.tmp / "full/best.json"));
  const auto whole_trials = completed_trials(f.tmp / "full/trials.csv");
  ASSERT_EQ(whole_trials.size(), 2u) << read_file(f.tmp / "full/trials.csv");
  Rng rng(2026);  // the same kill moments every run
  int landed = 0, cut_off_trials = 0;
  for (int k = 0; k < 20; ++k) {
    const std::string name = "killed_" + std::to_string(k);
    const auto delay = std::chrono::milliseconds(static_cast<int64_t>(rng.uniform(0.05, 0.95) * static_cast<double>(whole_ms.count())));
    landed += spinescan::testing::kill_cli_after(args + study(name), delay);
    // The kernel kills the training child when the driver dies (PR_SET_PDEATHSIG): soon, not at once.
    std::vector<std::string> left = processes_naming((f.tmp / name / "trial_").string());
    for (int wait = 0; wait < 50 && !left.empty(); ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      left = processes_naming((f.tmp / name / "trial_").string());
    }
    EXPECT_TRUE(left.empty()) << "kill " << k << " left running: " << left.front();
    const auto resumed = spinescan::testing::run_cli(args + study(name));
    ASSERT_EQ(resumed.exit_code, 0) << "kill " << k << " after " << delay.count() << " ms\n" << resumed.err;
    const auto best = nlohmann::json::parse(read_file(f.tmp / name / "best.json"));
    EXPECT_EQ(best["complete"], 2) << "kill " << k;
    EXPECT_LE(best["interrupted"].get<int>(), 1) << "kill " << k;
    cut_off_trials += best["interrupted"].get<int>();
    EXPECT_EQ(best["best_value"], whole_best["best_value"]) << "kill " << k;
    EXPECT_EQ(best["params"], whole_best["params"]) << "kill " << k;
    EXPECT_EQ(completed_trials(f.tmp / name / "trials.csv"), whole_trials) << "kill " << k;
    spinescan::testing::expect_no_half_written_file(f.tmp / name, "kill " + std::to_string(k));
  }
  std::cout << landed << " of 20 kills landed while the study ran; " << cut_off_trials << " cut a trial off\n";
  EXPECT_GE(landed, 15);
  EXPECT_GE(cut_off_trials, 5);  // the take-over of a cut-off trial is what this test is for
}

TEST(TuneClassifier, ATwoTrialStudyWritesItsDatabaseAndBestParamsAndContinues) {
  Fixture f;
  const auto out = f.tmp / "study", db = f.tmp / "study.db";
  auto run = [&](int trials) {
    const std::string cmd = std::string(SPINESCAN_BINARY) + " --threads 1 tune classifier --data " + f.data.string() +
                            " --split " + f.split.string() + " --out " + out.string() + " --study-db " + db.string() +
                            " --study-name t --trials " + std::to_string(trials) +
                            " --epochs 1 --samples-per-epoch 64 --max-steps 1 --inner-val-cases 1 --device cpu > " +
                            (f.tmp / "tune.log").string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  ASSERT_EQ(run(2), 0) << read_file(f.tmp / "tune.log");
  EXPECT_TRUE(std::filesystem::exists(db));
  const auto best = nlohmann::json::parse(read_file(out / "best.json"));
  EXPECT_EQ(best["trials"], 2);
  for (const char* k : {"lr", "weight_decay", "preset", "crop_size", "context", "augment", "drop_path", "batch"})
    EXPECT_TRUE(best["params"].contains(k)) << k;
  EXPECT_TRUE(std::filesystem::exists(out / "trial_000" / "result.json"));
  EXPECT_TRUE(std::filesystem::exists(out / "trial_001" / "params.json"));
  // Re-running with a larger count continues the same study.
  ASSERT_EQ(run(3), 0) << read_file(f.tmp / "tune.log");
  EXPECT_EQ(nlohmann::json::parse(read_file(out / "best.json"))["trials"], 3);
  // The best parameters feed the train command.
  classify::ClassifierTrainConfig c;
  classify::apply_params(c, best["params"]);
  EXPECT_EQ(c.preset, best["params"]["preset"].get<std::string>());
}
