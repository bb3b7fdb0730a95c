// Training, resuming and evaluating the detector end to end on a tiny phantom dataset with a
// narrow network (a few steps only: CI checks the machinery, not the accuracy).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/core/threads.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/bundle.h"
#include "spinescan/detect/detect_study.h"
#include "spinescan/detect/evaluate.h"
#include "spinescan/detect/train.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::read_jsonl;
using spinescan::testing::TempDir;

namespace {

struct Fixture {
  TempDir tmp;
  std::filesystem::path data = tmp / "ds", split = tmp / "splits.json";
  Fixture() { spinescan::testing::write_phantom_dataset_with_splits(data, split, 5, 31, 0.3, 2); }
  detect::DetectorTrainConfig config(const std::string& out) const {
    detect::DetectorTrainConfig c;
    c.data = data.string();
    c.split = split.string();
    c.out = (tmp / out).string();
    c.canvas_size = 128;
    c.pixel_mm = 2.5;
    c.width_divisor = 8;
    c.fpn_channels = 16;
    c.head_convs = 1;
    c.batch = 4;
    c.samples_per_epoch = 16;
    c.epochs = 6;
    c.lr = 2e-3;
    c.warmup_steps = 2;
    c.inner_val_cases = 1;
    c.augment = 0.5;
    c.device = "cpu";
    return c;
  }
  // `evaluate detector` of a run on this dataset's held-out cases, without overlays.
  detect::DetectorEvalConfig eval_config(const std::string& model) const {
    detect::DetectorEvalConfig e;
    e.data = data.string();
    e.model = model;
    e.split = split.string();
    e.out = (tmp / "eval").string();
    e.overlays = 0;
    return e;
  }
};

}  // namespace

TEST(TrainDetector, LossFallsAndTheRunFolderIsComplete) {
  Fixture f;
  const auto c = f.config("run");
  // What a run killed before its first checkpoint leaves: temporaries of interrupted writes
  // (core/atomic_file.h's names) and a logged epoch. A fresh start removes both.
  const std::filesystem::path killed_temporaries[] = {f.tmp / "run/.config.tmp-4242-0.json", f.tmp / "run/best/.detector.tmp-4242-1.pt"};
  std::filesystem::create_directories(f.tmp / "run/best");
  for (const auto& p : killed_temporaries) std::ofstream(p) << "half";
  std::ofstream(f.tmp / "run/metrics.jsonl") << "{\"epoch\": 1, \"loss\": 9}\n";
  const auto r = detect::train_detector(c);
  for (const auto& p : killed_temporaries) EXPECT_FALSE(std::filesystem::exists(p)) << p;
  EXPECT_EQ(r.epochs_done, 6);
  EXPECT_LT(r.last_loss, 0.8 * r.first_loss) << "loss " << r.first_loss << " -> " << r.last_loss;
  const std::filesystem::path run = c.out;
  for (const char* f : {"config.json", "metrics.jsonl", "checkpoints/last.json", "best/manifest.json", "best/detector.pt"})
    EXPECT_TRUE(std::filesystem::exists(run / f)) << f;
  const auto config = nlohmann::json::parse(read_file(run / "config.json"));
  EXPECT_FALSE(config["git_revision"].get<std::string>().empty());
  EXPECT_EQ(config["seed"], 0);
  // Held-out cases never appear among the training or inner-validation cases.
  for (const auto& h : config["heldout_cases"]) {
    for (const auto& t : config["train_cases"]) EXPECT_NE(h, t);
    for (const auto& v : config["inner_val_cases"]) EXPECT_NE(h, v);
  }
  EXPECT_EQ(read_jsonl(run / "metrics.jsonl").size(), 6u);
  // A second run without --resume refuses to overwrite.
  EXPECT_THROW(detect::train_detector(c), ConfigError);
}

TEST(TrainDetector, SideFractionChangesTheDrawsAndIsRecordedAndOutOfRangeIsRefused) {
  Fixture f;
  auto plain = f.config("plain");
  plain.epochs = 1;
  plain.augment = 0;  // the draws alone tell the runs apart
  auto side = plain;
  side.out = (f.tmp / "side").string();
  side.side_fraction = 0.5;
  const auto a = detect::train_detector(plain);
  const auto b = detect::train_detector(side);
  // The phantoms' bodies are ellipsoids: their outer slices cut small sections, drawn more often.
  EXPECT_NE(a.first_loss, b.first_loss);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(side.out) / "config.json"))["side_fraction"], 0.5);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(plain.out) / "config.json"))["side_fraction"], 0.0);
  auto bad = plain;
  bad.out = (f.tmp / "bad").string();
  bad.side_fraction = 1.5;
  EXPECT_THROW(detect::train_detector(bad), ConfigError);
}

TEST(TrainDetector, ResumeContinuesExactlyWhereAnInterruptedRunStopped) {
  Fixture f;
  auto full = f.config("full");
  full.epochs = 3;
  detect::train_detector(full);
  // The same run, stopped in the middle of its second epoch (as Ctrl-C would), then resumed:
  // the partial epoch is not saved, the resumed run repeats it and ends where the full one did.
  auto part = f.config("part");
  part.epochs = 3;
  part.max_steps = 6;  // epochs have 4 steps: stops after 2 steps of epoch 2
  EXPECT_EQ(detect::train_detector(part).epochs_done, 1);
  EXPECT_EQ(read_jsonl(std::filesystem::path(part.out) / "metrics.jsonl").size(), 1u);
  part.max_steps = 0;
  part.resume = true;
  EXPECT_EQ(detect::train_detector(part).epochs_done, 3);
  const auto a = read_jsonl(std::filesystem::path(full.out) / "metrics.jsonl");
  const auto b = read_jsonl(std::filesystem::path(part.out) / "metrics.jsonl");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t e = 0; e < 3; ++e) EXPECT_NEAR(a[e]["loss"].get<double>(), b[e]["loss"].get<double>(), 1e-4) << "epoch " << e + 1;
}

TEST(TrainDetector, DistilsFromATrainedDetectorAndRefusesOneWithOtherAnchors) {
  Fixture f;
  auto teacher = f.config("teacher");
  teacher.epochs = 2;
  detect::train_detector(teacher);
  auto student = f.config("student");
  student.epochs = 1;
  student.fpn_channels = 8;  // narrower than its teacher: distillation's purpose
  student.distill_from = teacher.out;
  EXPECT_EQ(detect::train_detector(student).epochs_done, 1);
  const auto line = read_jsonl(std::filesystem::path(student.out) / "metrics.jsonl").at(0);
  EXPECT_GT(line.at("loss_distill_classification").get<double>(), 0);
  // A toy teacher is confident (p > 0.5) on few anchors or none, so its box term may be 0 here;
  // that term's arithmetic is the unit test's (Distillation.*).
  EXPECT_GE(line.at("loss_distill_box").get<double>(), 0);
  EXPECT_NEAR(line.at("loss").get<double>(),
              line.at("loss_classification").get<double>() + line.at("loss_box").get<double>() +
                  line.at("loss_distill_classification").get<double>() + line.at("loss_distill_box").get<double>(),
              1e-4);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(student.out) / "config.json"))["distill_from"], teacher.out);
  auto other_canvas = f.config("other");
  other_canvas.pixel_mm = 2.0;
  other_canvas.distill_from = teacher.out;
  EXPECT_THROW(detect::train_detector(other_canvas), ConfigError);
}

namespace {

// Starts `spinescan ARGS` (its output discarded), kills it with SIGKILL after `delay`, and
// waits for it; true when it was still running (killed), false when it had ended.
}  // namespace

TEST(TrainDetector, KilledAtTwentyRandomMomentsEachRunResumesToTheUninterruptedResult) {
  // Issue 20, section 6: SIGKILL (no chance to clean up) at random moments of `train detector`,
  // then --resume: at most the running epoch is lost, nothing is left half-written, and the
  // per-epoch losses equal those of a run never interrupted (training is deterministic here).
  Fixture f;
  const std::string args = "-q --threads 1 train detector --data " + f.data.string() + " --split " + f.split.string() +
                           " --fold 0 --size 128 --pixel-mm 2.5 --width-divisor 8 --fpn-channels 16 --head-convs 1 --batch 4"
                           " --samples-per-epoch 16 --epochs 4 --lr 2e-3 --warmup-steps 2 --inner-val-cases 1 --augment 0.5"
                           " --device cpu --seed 0";
  // Most kill moments fall while training runs (a few after it ended are fine, not all).
  EXPECT_GE(spinescan::testing::expect_killed_runs_resume_to_the_whole_result(f.tmp.path(), args, {"loss", "val_mean_iou"}, 1e-5), 15);
}

TEST(EvaluateDetector, WritesMetricsAndOverlays) {
  Fixture f;
  auto c = f.config("run");
  c.epochs = 2;
  detect::train_detector(c);
  auto e = f.eval_config(c.out);
  e.fold = 0;
  e.overlays = 2;
  const auto metrics = nlohmann::json::parse(detect::evaluate_detector(e));
  for (const char* k : {"mean_iou", "mean_iou_pathological", "recall_at_50", "precision_at_50", "ap50", "ap50_95",
                        "false_positives_per_slice", "num_bodies"})
    EXPECT_TRUE(metrics["detection"].contains(k)) << k;
  EXPECT_GT(metrics["detection"]["num_bodies"].get<int>(), 0);
  EXPECT_EQ(metrics["per_case"].size(), metrics["cases"].size());
  // Per source: the phantom cases are one source, so its summary is the pooled one.
  ASSERT_EQ(metrics["per_source"].size(), 1u) << metrics["per_source"].dump();
  ASSERT_TRUE(metrics["per_source"].contains("phantom")) << metrics["per_source"].dump();
  auto phantom = metrics["per_source"]["phantom"];
  phantom.erase("by_cross_section");
  EXPECT_EQ(phantom, metrics["detection"]);
  // Every body instance falls in one cross-section group and one level group; the groups of
  // one source add up to that source.
  for (const char* grouping : {"by_cross_section", "by_level"}) {
    int64_t bodies = 0;
    for (const auto& [group, d] : metrics[grouping].items()) bodies += d["num_bodies"].get<int64_t>();
    EXPECT_EQ(bodies, metrics["detection"]["num_bodies"].get<int64_t>()) << grouping << ": " << metrics[grouping].dump();
  }
  EXPECT_EQ(metrics["per_source"]["phantom"]["by_cross_section"], metrics["by_cross_section"]);
  EXPECT_TRUE(metrics["by_level"].contains("L3")) << metrics["by_level"].dump();
  // A training run's detector does not link slices (linked score = operating score): the
  // sweep's first row is the headline, and lower linked scores never lose a body.
  EXPECT_EQ(metrics["linked_score"], metrics["operating_score"]);
  const auto& sweep = metrics["linked_score_sweep"];
  ASSERT_EQ(sweep.size(), 5u);
  EXPECT_DOUBLE_EQ(sweep[0]["phantom"]["recall_at_50"].get<double>(), metrics["detection"]["recall_at_50"].get<double>());
  EXPECT_DOUBLE_EQ(sweep[0]["phantom"]["mean_iou"].get<double>(), metrics["detection"]["mean_iou"].get<double>());
  for (size_t i = 1; i < sweep.size(); ++i)
    EXPECT_LT(sweep[i]["linked_score"].get<double>(), sweep[i - 1]["linked_score"].get<double>());
  EXPECT_EQ(nlohmann::json::parse(read_file(f.tmp / "eval/metrics.json")), metrics);
  int pngs = 0;
  for (const auto& p : std::filesystem::directory_iterator(f.tmp / "eval/overlays")) pngs += p.path().extension() == ".png";
  EXPECT_EQ(pngs, 2);
  EXPECT_EQ(metrics["detector_precision"], "fp32");
  EXPECT_TRUE(metrics["int8_calibration_cases"].empty());

  // --detector-precision int8 (the numerics: RetinaNet.Int8... in the unit tests): refused
  // until `model calibrate-int8` has stored ranges, then the same cases scored in 8 bits, with
  // metrics.json naming the calibration cases; a calibration that saw an evaluated case is refused.
  struct PrecisionGuard {
    ~PrecisionGuard() { set_detector_precision(DetectorPrecision::kFloat32); }
  } restore;
  set_detector_precision(DetectorPrecision::kInt8);
  auto int8 = e;
  int8.overlays = 0;
  int8.out = (f.tmp / "eval_int8").string();
  EXPECT_THROW(detect::evaluate_detector(int8), ModelError);
  const auto fold = Splits::load(f.split).folds.at(0);
  const auto calibration = detect::calibrate_detector_int8(c.out, f.data, {fold.train.at(0)});
  EXPECT_GT(calibration.points, 20u);
  EXPECT_GT(calibration.slices, 0u);
  const auto quantized = nlohmann::json::parse(detect::evaluate_detector(int8));
  EXPECT_EQ(quantized["detector_precision"], "int8");
  EXPECT_EQ(quantized["int8_calibration_cases"], nlohmann::json::array({fold.train.at(0)}));
  EXPECT_EQ(quantized["cases"], metrics["cases"]);
  EXPECT_EQ(quantized["detection"]["num_bodies"], metrics["detection"]["num_bodies"]);
  detect::calibrate_detector_int8(c.out, f.data, {fold.val.at(0)});
  EXPECT_THROW(detect::evaluate_detector(int8), ConfigError);
  // The float path reads the same bundle as before: the stored ranges change nothing there.
  set_detector_precision(DetectorPrecision::kFloat32);
  auto again = e;
  again.overlays = 0;
  again.out = (f.tmp / "eval_again").string();
  auto same = nlohmann::json::parse(detect::evaluate_detector(again));
  EXPECT_EQ(same["detection"], metrics["detection"]);
}

TEST(TrainDetector, AnchorScalesAreTrainedStoredAndReadByEvaluateAndRefusedWhenNotPositive) {
  Fixture f;
  auto c = f.config("scales");
  c.epochs = 1;
  c.anchor_scales = {0.63, 1.0};
  detect::train_detector(c);
  const auto manifest = nlohmann::json::parse(read_file(std::filesystem::path(c.out) / "best/manifest.json"));
  EXPECT_EQ(manifest["detector"]["options"]["anchors"]["scales"].get<std::vector<double>>(), c.anchor_scales);
  EXPECT_EQ(nlohmann::json::parse(read_file(std::filesystem::path(c.out) / "config.json"))["anchor_scales"].get<std::vector<double>>(),
            c.anchor_scales);
  // The bundle's anchors are what evaluate builds its net and decodes with: the weights hold 2 x 3
  // anchors per location, and a net built with the default 3 x 3 would not load them.
  EXPECT_GT(nlohmann::json::parse(detect::evaluate_detector(f.eval_config(c.out)))["detection"]["num_bodies"].get<int>(), 0);
  auto bad = f.config("bad");
  bad.anchor_scales = {1.0, 0.0};
  EXPECT_THROW(detect::train_detector(bad), ConfigError);
}

TEST(TrainDetector, SagittalContextIsTrainedStoredAndReadByEvaluateAndByAStudysDetection) {
  Fixture f;
  auto c = f.config("context");
  c.epochs = 2;
  c.context_mm = 5;
  detect::train_detector(c);
  const auto manifest = nlohmann::json::parse(read_file(std::filesystem::path(c.out) / "best/manifest.json"));
  EXPECT_DOUBLE_EQ(manifest["detector"]["canvas"]["context_mm"].get<double>(), 5.0);
  EXPECT_EQ(manifest["detector"]["options"]["backbone"]["in_channels"], 3);
  const auto metrics = nlohmann::json::parse(detect::evaluate_detector(f.eval_config(c.out)));
  EXPECT_GT(metrics["detection"]["num_bodies"].get<int>(), 0);
  // A whole study through the net that reads three slices (a one-slice input would not fit its first convolution).
  const Dataset dataset = load_dataset(f.data);
  const auto d = detect::detect_study(dataset.cases.front().image, c.out);
  EXPECT_GT(d.normalized.size[2], 0);
  for (const auto& x : d.detections) EXPECT_GE(x.score, d.linked_score);
}
