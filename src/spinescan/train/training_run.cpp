#include "spinescan/train/training_run.h"

#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/progress.h"
#include "spinescan/core/version.h"
#include "spinescan/detect/detector_io.h"

namespace fs = std::filesystem;

namespace spinescan::train {
namespace {

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

// Ctrl-C sets a flag for the length of a run() and the previous handler comes back after it.
class InterruptScope {
 public:
  InterruptScope() : previous_(std::signal(SIGINT, on_interrupt)) { g_interrupted = false; }
  ~InterruptScope() { std::signal(SIGINT, previous_); }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_)(int);
};

// The run's state between epochs, as last.json keeps it.
struct RunState {
  int epoch = -1;  // last complete epoch, 0-based
  int64_t step = 0;
  double best_score = -1;
  int best_epoch = -1;
  int since_best = 0;
  double first_loss = 0, last_loss = 0;
  std::string rng;  // RngStream::kContinuous: the generator after the last complete epoch

  nlohmann::json to_json() const {
    nlohmann::json j = {{"epoch", epoch},           {"step", step},          {"best_score", best_score},
                        {"best_epoch", best_epoch}, {"since_best", since_best}, {"first_loss", first_loss},
                        {"last_loss", last_loss}};
    if (!rng.empty()) j["rng"] = rng;
    return j;
  }
  static RunState from_json(const nlohmann::json& j) {
    RunState s;
    s.epoch = j.at("epoch");
    s.step = j.at("step");
    // Runs checkpointed before the shared helper named the score after the stage's metric.
    for (const char* key : {"best_score", "best_mean_iou", "best_auc"})
      if (j.contains(key)) {
        s.best_score = j[key];
        break;
      }
    s.best_epoch = j.at("best_epoch");
    s.since_best = j.value("since_best", 0);
    s.first_loss = j.value("first_loss", 0.0);
    s.last_loss = j.value("last_loss", 0.0);
    s.rng = j.value("rng", std::string());
    return s;
  }
};

}  // namespace

double LrSchedule::at(int64_t step, int64_t total_steps) const {
  const double progress = static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, total_steps));
  double lr = peak * (floor_fraction + (1 - floor_fraction) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress))));
  if (step < warmup_steps) lr *= static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  return lr;
}

TrainingRun::TrainingRun(fs::path folder, nlohmann::json config, bool resume, const nlohmann::json& defaults)
    : folder_(std::move(folder)), config_(std::move(config)), resume_(resume) {
  if (!resume_ && fs::exists(folder_ / "checkpoints" / "last.json"))
    throw ConfigError(folder_.string() + ": holds a training run already (pass --resume to continue it, or choose another --out)");
  fs::create_directories(folder_);
  config_["git_revision"] = git_revision();
  config_["spinescan_version"] = version();
  if (resume_ && fs::exists(folder_ / "config.json")) {
    // A resumed run must be the run it continues: epochs of one setting followed by epochs of
    // another would be neither. The code's revision and the device may change.
    const nlohmann::json before = read_json_file(folder_ / "config.json", "a training run's configuration");
    std::string changed;
    for (const auto& [key, value] : config_.items()) {
      if (key == "git_revision" || key == "spinescan_version" || key == "device") continue;
      const nlohmann::json* then = before.contains(key) ? &before[key] : defaults.contains(key) ? &defaults[key] : nullptr;
      if (!then || *then != value)
        changed += (changed.empty() ? "" : ", ") + key + " (" + (then ? then->dump() : "unset") + " then, " + value.dump() + " now)";
    }
    SPINESCAN_CHECK_AS(changed.empty(), ConfigError, folder_.string(), ": --resume with other settings than the run's: ", changed);
  }
  if (!resume_) {
    // A run killed before its first checkpoint starts again: its temporaries go, and the
    // epoch it may have logged.
    remove_interrupted_temporaries(folder_);
    write_text_atomically(folder_ / "config.json", config_.dump(2) + "\n");
    fs::remove(folder_ / "metrics.jsonl");
  }
}

RunResult TrainingRun::run(torch::nn::Module& model, torch::optim::Optimizer& optimizer, const EpochPlan& plan,
                           const Stage& stage) {
  SPINESCAN_CHECK_AS(plan.epochs >= 1 && plan.steps_per_epoch >= 1 && plan.max_steps >= 0 && plan.patience >= 0, ConfigError,
                     "need epochs >= 1, steps per epoch >= 1, max steps >= 0 and patience >= 0");
  RunState state;
  if (resume_) {
    state = RunState::from_json(load_checkpoint(folder_, model, optimizer));
    log_info("resuming after epoch " + std::to_string(state.epoch + 1));
  }
  Rng continuous(plan.seed);
  if (plan.rng == RngStream::kContinuous && !state.rng.empty()) {
    try {
      continuous.restore(state.rng);
    } catch (const std::invalid_argument&) {
      throw ConfigError((folder_ / "checkpoints" / "last.json").string() + ": \"rng\" is not a random generator's state");
    }
  }

  const int64_t total_steps = static_cast<int64_t>(plan.steps_per_epoch) * plan.epochs;
  const auto reached_max_steps = [&] { return plan.max_steps > 0 && state.step >= plan.max_steps; };
  InterruptScope interrupt_scope;
  RunResult result;
  bool stopped_early = plan.patience > 0 && state.since_best >= plan.patience;
  Progress progress(stage.name, total_steps, "steps", state.step);
  model.train();
  const auto started = std::chrono::steady_clock::now();
  for (int epoch = state.epoch + 1; epoch < plan.epochs && !g_interrupted && !stopped_early; ++epoch) {
    Rng per_epoch = Rng::derived(plan.seed, static_cast<uint64_t>(epoch));
    // A partial epoch is not saved, so its draws must not reach the saved generator either.
    Rng epoch_continuous = continuous;
    Rng& rng = plan.rng == RngStream::kPerEpoch ? per_epoch : epoch_continuous;
    if (stage.begin_epoch) stage.begin_epoch(epoch, rng);
    double loss_sum = 0;
    std::vector<std::pair<std::string, double>> part_sums;
    int steps = 0;
    for (int s = 0; s < plan.steps_per_epoch && !g_interrupted && !reached_max_steps(); ++s) {
      const double lr = plan.lr.at(state.step, total_steps);
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      const StepLoss loss = stage.step(epoch, s, rng);
      loss_sum += loss.total;
      if (part_sums.empty())
        for (const auto& [name, value] : loss.parts) part_sums.emplace_back(name, 0.0);
      for (size_t i = 0; i < loss.parts.size() && i < part_sums.size(); ++i) part_sums[i].second += loss.parts[i].second;
      ++steps;
      ++state.step;
      char detail[96];
      std::snprintf(detail, sizeof detail, "epoch %d/%d, loss %.4f", epoch + 1, plan.epochs, loss_sum / steps);
      progress.update(state.step, detail);
    }
    if (steps < plan.steps_per_epoch) break;
    continuous = epoch_continuous;
    const double mean_loss = loss_sum / steps;
    if (epoch == 0) state.first_loss = mean_loss;
    state.last_loss = mean_loss;
    const EpochScore score = stage.validate(epoch);
    model.train();
    state.epoch = epoch;
    const bool best = plan.ties_are_better ? score.score >= state.best_score : score.score > state.best_score;
    if (best) {
      state.best_score = score.score;
      state.best_epoch = epoch;
      state.since_best = 0;
      if (stage.save_best) stage.save_best(epoch, score);
    } else {
      ++state.since_best;
    }
    stopped_early = plan.patience > 0 && state.since_best >= plan.patience;
    if (plan.rng == RngStream::kContinuous) state.rng = continuous.state();
    nlohmann::json line = {{"epoch", epoch + 1},
                           {"step", state.step},
                           {"lr", static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options()).lr()},
                           {"loss", mean_loss}};
    for (const auto& [name, sum] : part_sums) line["loss_" + name] = sum / steps;
    for (const auto& [key, value] : score.metrics.items()) line[key] = value;
    line["best"] = best;
    line["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    save_checkpoint(folder_, model, optimizer, epoch, state.to_json(), line);
    progress.finish();
    char loss_text[64];
    std::snprintf(loss_text, sizeof loss_text, "epoch %d: loss %.4f", epoch + 1, mean_loss);
    log_info(std::string(loss_text) + (score.summary.empty() ? "" : ", " + score.summary) + (best ? " (best)" : ""));
    if (reached_max_steps()) break;
  }
  result.epochs_done = state.epoch + 1;
  result.interrupted = g_interrupted;
  result.stopped_early = stopped_early;
  result.first_loss = state.first_loss;
  result.last_loss = state.last_loss;
  result.best_score = state.best_score;
  result.best_epoch = state.best_epoch + 1;
  if (result.interrupted) log_warning("interrupted: the last complete epoch is saved; continue with --resume");
  return result;
}

void save_checkpoint(const fs::path& run, const torch::nn::Module& model, torch::optim::Optimizer& optimizer, int epoch,
                     nlohmann::json state, const nlohmann::json& metrics_line) {
  const fs::path dir = run / "checkpoints" / ("epoch_" + std::to_string(epoch));
  fs::create_directories(dir);
  detect::save_weights(model, dir / "model.pt", false);
  write_atomically(dir / "optimizer.pt", [&](const fs::path& tmp) { torch::save(optimizer, tmp.string()); });
  {
    std::ofstream log(run / "metrics.jsonl", std::ios::app);
    log << metrics_line.dump() << "\n";
    log.flush();
    SPINESCAN_CHECK(log, (run / "metrics.jsonl").string(), ": cannot append");
  }
  state["folder"] = dir.filename().string();
  write_text_atomically(run / "checkpoints" / "last.json", state.dump(2) + "\n");
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    if (e.is_directory() && e.path() != dir) fs::remove_all(e.path());
}

nlohmann::json load_checkpoint(const fs::path& run, torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  const fs::path last = run / "checkpoints" / "last.json";
  SPINESCAN_CHECK_AS(fs::exists(last), ConfigError, run.string(), ": nothing to resume (no checkpoints/last.json)");
  std::ifstream in(last);
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(last.string() + ": invalid JSON: " + e.what());
  }
  const fs::path dir = run / "checkpoints" / state.at("folder").get<std::string>();
  detect::load_weights(model, dir / "model.pt");
  torch::load(optimizer, (dir / "optimizer.pt").string());
  remove_interrupted_temporaries(run);
  // The log keeps the epochs the checkpoint holds, nothing after them.
  const int64_t epochs_done = state.at("epoch").get<int64_t>() + 1;
  std::ifstream log_in(run / "metrics.jsonl");
  std::string kept, line;
  while (std::getline(log_in, line)) {
    if (log_in.eof()) break;  // no newline: cut short by a kill
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer() && j["epoch"].get<int64_t>() <= epochs_done)
      kept += line + "\n";
  }
  write_text_atomically(run / "metrics.jsonl", kept);
  return state;
}

}  // namespace spinescan::train
