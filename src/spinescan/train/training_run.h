#pragma once
// The training run every network's trainer shares (the detector, the vertebra classifier and
// the level net). A run folder holds:
//   config.json    the resolved configuration, with the code's revision and version;
//   metrics.jsonl  one line per complete epoch;
//   checkpoints/   the newest complete epoch (model, optimizer, the run's state), so a kill at
//                  any moment loses at most the running epoch and --resume repeats it exactly;
//   best/          the stage's model of its best epoch, written by the stage.
// The loop is here too: the learning-rate schedule, progress, Ctrl-C (finish nothing half-way,
// keep the last complete epoch), --max-steps, early stopping and the choice of the best epoch.
// A stage supplies one optimisation step, its validation and how it writes best/.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <utility>
#include <vector>

#include "spinescan/core/rng.h"
#include "spinescan/train/run_result.h"

namespace spinescan::train {

// Linear warm-up over the first `warmup_steps`, then cosine decay from `peak` at step 0 to
// floor_fraction x peak at `total_steps` (and after).
struct LrSchedule {
  double peak = 1e-3;
  int64_t warmup_steps = 0;
  double floor_fraction = 0.01;
  double at(int64_t step, int64_t total_steps) const;
};

// Where an epoch's random draws come from.
enum class RngStream {
  kPerEpoch,    // Rng::derived(seed, epoch): an epoch's draws depend on (seed, epoch) only
  kContinuous,  // one Rng(seed) through the whole run; its state is saved with each checkpoint
};

struct EpochPlan {
  int epochs = 1;
  int steps_per_epoch = 1;
  int max_steps = 0;   // stop after this many steps in all (tests); 0 = no limit
  int patience = 0;    // stop after this many epochs without a better score; 0 = never stop early
  // A score equal to the best so far counts as better, so the later epoch's model is kept (a
  // small validation set saturates, and the later model has seen more training).
  bool ties_are_better = false;
  uint64_t seed = 0;
  RngStream rng = RngStream::kPerEpoch;
  LrSchedule lr;
};

// The loss of one optimisation step: its total, and named parts logged as loss_<name>.
struct StepLoss {
  double total = 0;
  std::vector<std::pair<std::string, double>> parts;
};

// A stage's validation after a complete epoch.
struct EpochScore {
  double score = 0;                                   // higher is better; chooses best/
  nlohmann::json metrics = nlohmann::json::object();  // added to the epoch's metrics.jsonl line
  std::string summary;                                // the tail of the epoch's log line
};

// What the stage does; each is called on the trainer's thread, between checkpoints.
struct Stage {
  std::string name;  // progress label, "train"
  // Optional: before an epoch's first step, with the epoch's generator (what the epoch draws).
  std::function<void(int epoch, Rng& rng)> begin_epoch;
  // One optimisation step (the epoch's `step_in_epoch`-th, from 0) at the learning rate the run
  // has set on the optimizer.
  std::function<StepLoss(int epoch, int step_in_epoch, Rng& rng)> step;
  // Validation after each complete epoch.
  std::function<EpochScore(int epoch)> validate;
  // Writes best_folder() for the epoch just validated when its score is the best so far.
  // Optional: a stage with nothing to choose by keeps its last epoch and has no best/.
  std::function<void(int epoch, const EpochScore& score)> save_best;
};

class TrainingRun {
 public:
  // Opens the run folder. A fresh run refuses a folder that holds a run already, removes what a
  // run killed before its first checkpoint left (temporaries, a logged epoch) and writes
  // config.json, adding "git_revision" and "spinescan_version". With `resume` the folder must
  // hold a checkpoint (ConfigError otherwise, when run() starts), and `config` must be the one
  // in config.json but for the device (ConfigError naming each setting that differs).
  // `defaults`: each setting's value in a run that did not record it (the trainer's to_json()
  // of a default-constructed config): a run begun before a setting existed has no such key in
  // its config.json, and resumes as long as the setting is left at its default.
  TrainingRun(std::filesystem::path folder, nlohmann::json config, bool resume,
              const nlohmann::json& defaults = nlohmann::json::object());
  const std::filesystem::path& folder() const { return folder_; }
  std::filesystem::path best_folder() const { return folder_ / "best"; }
  const nlohmann::json& config() const { return config_; }  // as written to config.json

  // Trains `model` from the newest checkpoint (resumed) or from its current weights. A partial
  // epoch (Ctrl-C, or max_steps reached mid-epoch) is not saved. Ctrl-C is caught while this
  // runs and reported as `interrupted`, with a warning to continue with --resume.
  RunResult run(torch::nn::Module& model, torch::optim::Optimizer& optimizer, const EpochPlan& plan, const Stage& stage);

 private:
  std::filesystem::path folder_;
  nlohmann::json config_;
  bool resume_;
};

// Checkpoints of a run: <run>/checkpoints/epoch_N/{model.pt, optimizer.pt}, and
// <run>/checkpoints/last.json (the trainer's state plus "folder") naming the newest complete
// one, written last, so a kill at any moment leaves a consistent checkpoint. Older epoch
// folders are removed. The epoch's line of <run>/metrics.jsonl (`metrics_line`, holding
// "epoch": epoch + 1) is appended before last.json, so the log never lacks an epoch the
// checkpoint holds; `state` must hold "epoch" (0-based).
void save_checkpoint(const std::filesystem::path& run, const torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                     int epoch, nlohmann::json state, const nlohmann::json& metrics_line);
// Loads the newest checkpoint into model and optimizer; returns the state saved with it.
// metrics.jsonl is cut back to the checkpoint's epochs (a line of an epoch whose checkpoint
// never landed, or a line cut short by a kill, goes). ConfigError when the run has none.
nlohmann::json load_checkpoint(const std::filesystem::path& run, torch::nn::Module& model, torch::optim::Optimizer& optimizer);

}  // namespace spinescan::train
