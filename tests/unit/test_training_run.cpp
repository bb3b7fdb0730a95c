// The training run every trainer shares (train/training_run.h): the schedule, the choice of
// the best epoch, early stopping, Ctrl-C, and that a stopped run resumed ends exactly where
// the uninterrupted one did, with either random stream.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <csignal>
#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/train/training_run.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::train;
using spinescan::testing::TempDir;

namespace {

// A linear regression learnt from random draws: every step depends on the random stream, the
// optimizer's state and the learning rate, so any of them going astray on resume shows.
struct Regression {
  torch::nn::Linear model{3, 1};
  torch::optim::AdamW optimizer{model->parameters(), torch::optim::AdamWOptions(0.05)};
  Regression() { torch::NoGradGuard no_grad; model->weight.fill_(0); model->bias.fill_(0); }

  Stage stage(std::vector<int>* saved_best = nullptr) {
    Stage s;
    s.name = "test";
    s.step = [this](int, int, Rng& rng) {
      auto x = torch::empty({8, 3});
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 3; ++j) x[i][j] = rng.normal();
      const auto y = x.matmul(torch::tensor({1.0f, -2.0f, 0.5f})).unsqueeze(1) + 0.3;
      const auto loss = torch::mse_loss(model->forward(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      return StepLoss{loss.item<double>(), {{"doubled", 2 * loss.item<double>()}}};
    };
    s.validate = [this](int) {
      const double error = (model->weight - torch::tensor({{1.0f, -2.0f, 0.5f}})).abs().sum().item<double>();
      return EpochScore{-error, {{"val_weight_error", error}}, "weight error"};
    };
    s.save_best = [saved_best](int epoch, const EpochScore&) {
      if (saved_best) saved_best->push_back(epoch);
    };
    return s;
  }
};

EpochPlan small_plan(RngStream stream) {
  EpochPlan plan;
  plan.epochs = 3;
  plan.steps_per_epoch = 4;
  plan.seed = 7;
  plan.rng = stream;
  plan.lr = {0.05, 2, 0.01};
  return plan;
}

// metrics.jsonl without the wall-clock field.
std::vector<nlohmann::json> metrics_lines(const std::filesystem::path& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("elapsed_s");
    out.push_back(j);
  }
  return out;
}

std::atomic<int> g_custom_handler_calls{0};
void custom_handler(int) { ++g_custom_handler_calls; }

}  // namespace

TEST(LrSchedule, WarmsUpLinearlyThenFallsByCosineToItsFloor) {
  const LrSchedule s{1.0, 4, 0.01};
  EXPECT_DOUBLE_EQ(s.at(0, 100), 0.25);       // the first warm-up step: 1 of 4
  EXPECT_DOUBLE_EQ(s.at(3, 100), 1.0 * (0.01 + 0.99 * 0.5 * (1 + std::cos(M_PI * 0.03))));
  EXPECT_DOUBLE_EQ(s.at(50, 100), 0.01 + 0.99 * 0.5);  // half way down
  EXPECT_DOUBLE_EQ(s.at(100, 100), 0.01);
  EXPECT_DOUBLE_EQ(s.at(250, 100), 0.01);     // stays at the floor past the end
  EXPECT_DOUBLE_EQ((LrSchedule{2.0, 0, 0.0}.at(100, 100)), 0.0);
}

TEST(TrainingRun, AStoppedRunResumedEndsExactlyWhereTheWholeRunDidWithEitherRandomStream) {
  for (const RngStream stream : {RngStream::kPerEpoch, RngStream::kContinuous}) {
    SCOPED_TRACE(stream == RngStream::kPerEpoch ? "per epoch" : "continuous");
    TempDir tmp;
    Regression whole;
    TrainingRun whole_run(tmp / "whole", {{"what", "test"}}, false);
    const RunResult w = whole_run.run(*whole.model, whole.optimizer, small_plan(stream), whole.stage());
    EXPECT_EQ(w.epochs_done, 3);
    EXPECT_LT(w.last_loss, w.first_loss);

    // Stopped in the middle of the second epoch: only the first is saved.
    Regression part;
    EpochPlan stopped = small_plan(stream);
    stopped.max_steps = 6;
    const RunResult p = TrainingRun(tmp / "part", {{"what", "test"}}, false).run(*part.model, part.optimizer, stopped, part.stage());
    EXPECT_EQ(p.epochs_done, 1);
    EXPECT_EQ(metrics_lines(tmp / "part").size(), 1u);

    // A fresh process resumes it: new model and optimizer, weights from the checkpoint.
    Regression resumed;
    const RunResult r =
        TrainingRun(tmp / "part", {{"what", "test"}}, true).run(*resumed.model, resumed.optimizer, small_plan(stream), resumed.stage());
    EXPECT_EQ(r.epochs_done, 3);
    EXPECT_TRUE(torch::equal(resumed.model->weight, whole.model->weight));
    EXPECT_TRUE(torch::equal(resumed.model->bias, whole.model->bias));
    EXPECT_EQ(metrics_lines(tmp / "part"), metrics_lines(tmp / "whole"));
    EXPECT_DOUBLE_EQ(r.first_loss, w.first_loss);
    EXPECT_DOUBLE_EQ(r.last_loss, w.last_loss);
    // The log holds the loss, its named parts, the stage's metrics and the learning rate.
    const auto line = metrics_lines(tmp / "whole").back();
    EXPECT_DOUBLE_EQ(line["loss_doubled"].get<double>(), 2 * line["loss"].get<double>());
    EXPECT_TRUE(line.contains("val_weight_error") && line.contains("lr") && line.contains("best"));
    const auto config = nlohmann::json::parse(spinescan::testing::read_file(tmp / "whole" / "config.json"));
    EXPECT_EQ(config["what"], "test");
    EXPECT_TRUE(config.contains("git_revision") && config.contains("spinescan_version"));
  }
}

TEST(TrainingRun, TheTwoRandomStreamsDrawDifferently) {
  // Per epoch, epoch e's draws depend on (seed, e) only; the continuous stream carries on.
  TempDir tmp;
  Regression a, b;
  TrainingRun(tmp / "a", {}, false).run(*a.model, a.optimizer, small_plan(RngStream::kPerEpoch), a.stage());
  TrainingRun(tmp / "b", {}, false).run(*b.model, b.optimizer, small_plan(RngStream::kContinuous), b.stage());
  EXPECT_FALSE(torch::equal(a.model->weight, b.model->weight));
}

TEST(TrainingRun, KeepsTheBestEpochAndStopsAfterPatienceEpochsWithoutABetterOne) {
  const std::vector<double> scores = {0.5, 0.7, 0.7, 0.6, 0.6, 0.9};
  for (const bool ties : {false, true}) {
    SCOPED_TRACE(ties ? "ties are better" : "strictly better");
    TempDir tmp;
    Regression r;
    std::vector<int> saved;
    Stage stage = r.stage(&saved);
    stage.validate = [&](int epoch) { return EpochScore{scores[static_cast<size_t>(epoch)], {}, ""}; };
    EpochPlan plan = small_plan(RngStream::kPerEpoch);
    plan.epochs = 6;
    plan.patience = 2;
    plan.ties_are_better = ties;
    const RunResult result = TrainingRun(tmp / "run", {}, false).run(*r.model, r.optimizer, plan, stage);
    EXPECT_TRUE(result.stopped_early);
    EXPECT_DOUBLE_EQ(result.best_score, 0.7);
    if (ties) {
      EXPECT_EQ(saved, (std::vector<int>{0, 1, 2}));
      EXPECT_EQ(result.best_epoch, 3);
      EXPECT_EQ(result.epochs_done, 5);  // epochs 4 and 5 no better
    } else {
      EXPECT_EQ(saved, (std::vector<int>{0, 1}));
      EXPECT_EQ(result.best_epoch, 2);
      EXPECT_EQ(result.epochs_done, 4);  // epochs 3 and 4 no better
    }
    // A resumed run that had stopped early trains no further.
    Regression again;
    const RunResult resumed = TrainingRun(tmp / "run", {}, true).run(*again.model, again.optimizer, plan, stage);
    EXPECT_EQ(resumed.epochs_done, result.epochs_done);
    EXPECT_TRUE(resumed.stopped_early);
  }
}

// A run begun before a setting existed has no key for it in config.json: --resume takes the
// missing key for the setting's default, and refuses the run with the setting changed.
TEST(TrainingRun, ResumeReadsASettingTheRunDidNotRecordAsItsDefault) {
  TempDir tmp;
  TrainingRun(tmp / "run", {{"what", "test"}}, false);  // writes config.json, as an older program would
  const nlohmann::json defaults = {{"what", ""}, {"added", 0}};
  EXPECT_NO_THROW(TrainingRun(tmp / "run", {{"what", "test"}, {"added", 0}}, true, defaults));
  EXPECT_THROW(TrainingRun(tmp / "run", {{"what", "test"}, {"added", 1}}, true, defaults), ConfigError);
  EXPECT_THROW(TrainingRun(tmp / "run", {{"what", "test"}, {"added", 0}}, true), ConfigError);  // no default known
  EXPECT_THROW(TrainingRun(tmp / "run", {{"what", ""}, {"added", 0}}, true, defaults), ConfigError);  // recorded wins
}

TEST(TrainingRun, CtrlCKeepsTheLastCompleteEpochAndGivesBackTheUsersHandler) {
  TempDir tmp;
  Regression r;
  Stage stage = r.stage();
  const auto step = stage.step;
  int steps = 0;
  stage.step = [&](int epoch, int step_in_epoch, Rng& rng) {
    if (epoch == 1 && ++steps == 2) std::raise(SIGINT);  // in the middle of the second epoch
    return step(epoch, step_in_epoch, rng);
  };
  const auto previous = std::signal(SIGINT, custom_handler);
  const RunResult result = TrainingRun(tmp / "run", {}, false).run(*r.model, r.optimizer, small_plan(RngStream::kPerEpoch), stage);
  EXPECT_TRUE(result.interrupted);
  EXPECT_EQ(result.epochs_done, 1);
  EXPECT_EQ(metrics_lines(tmp / "run").size(), 1u);
  EXPECT_EQ(g_custom_handler_calls, 0);  // the run caught it
  EXPECT_EQ(std::signal(SIGINT, previous), custom_handler);
}

TEST(TrainingRun, ResumesOnlyWithTheRunsOwnSettingsButForTheDevice) {
  TempDir tmp;
  Regression r;
  EpochPlan plan = small_plan(RngStream::kPerEpoch);
  plan.max_steps = 4;
  const nlohmann::json config = {{"lr", 0.05}, {"epochs", 3}, {"device", "cpu"}};
  TrainingRun(tmp / "run", config, false).run(*r.model, r.optimizer, plan, r.stage());
  nlohmann::json other = config;
  other["lr"] = 0.1;
  try {
    TrainingRun(tmp / "run", other, true);
    ADD_FAILURE() << "resumed with another learning rate";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lr (0.05 then, 0.1 now)"), std::string::npos) << e.what();
  }
  nlohmann::json elsewhere = config;
  elsewhere["device"] = "cuda";
  EXPECT_NO_THROW(TrainingRun(tmp / "run", elsewhere, true));
}

TEST(TrainingRun, RefusesToOverwriteARunAndToResumeNothing) {
  TempDir tmp;
  Regression r;
  EpochPlan plan = small_plan(RngStream::kPerEpoch);
  plan.epochs = 1;
  TrainingRun(tmp / "run", {}, false).run(*r.model, r.optimizer, plan, r.stage());
  EXPECT_THROW(TrainingRun(tmp / "run", {}, false), ConfigError);
  Regression other;
  EXPECT_THROW(TrainingRun(tmp / "empty", {}, true).run(*other.model, other.optimizer, plan, other.stage()), ConfigError);
}

TEST(TrainingCheckpoint, ResumingCutsTheLogBackToTheCheckpointAndRemovesTemporariesOfAKilledWrite) {
  // A kill can land after an epoch's log line but before its checkpoint, in the middle of a
  // line, or in the middle of an atomic write: resuming leaves the log with the checkpoint's
  // epochs only and removes the temporary files (and nothing else).
  spinescan::testing::TempDir tmp;
  const auto run = tmp / "run";
  std::filesystem::create_directories(run);
  torch::nn::Linear model(3, 2);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  save_checkpoint(run, *model, optimizer, 0, {{"epoch", 0}, {"step", 4}}, {{"epoch", 1}, {"loss", 0.5}});
  save_checkpoint(run, *model, optimizer, 1, {{"epoch", 1}, {"step", 8}}, {{"epoch", 2}, {"loss", 0.4}});
  {
    std::ofstream log(run / "metrics.jsonl", std::ios::app);
    const nlohmann::json third = {{"epoch", 3}, {"loss", 0.3}};
    log << third.dump() << "\n" << "{\"epoch\": 4, \"lo";  // logged, then cut
  }
  spinescan::testing::write_file(run / ".model.pt.tmp-123-0", "half a file");
  spinescan::testing::write_file(run / "notes.txt", "the user's");
  torch::nn::Linear restored(3, 2);
  torch::optim::AdamW restored_optimizer(restored->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto state = load_checkpoint(run, *restored, restored_optimizer);
  EXPECT_EQ(state["epoch"], 1);
  const nlohmann::json first = {{"epoch", 1}, {"loss", 0.5}}, second = {{"epoch", 2}, {"loss", 0.4}};
  EXPECT_EQ(spinescan::testing::read_file(run / "metrics.jsonl"), first.dump() + "\n" + second.dump() + "\n");
  EXPECT_FALSE(std::filesystem::exists(run / ".model.pt.tmp-123-0"));
  EXPECT_TRUE(std::filesystem::exists(run / "notes.txt"));
  EXPECT_TRUE(torch::equal(restored->weight, model->weight));
}
