#pragma once
// `spinescan train classifier`: the vertebra classifier trained on ground-truth boxes of a
// fold's training cases (with box jitter, so it also works on the detector's boxes). Run
// folder as the detector's: config.json, metrics.jsonl, checkpoints/ (resumable), best/
// (a bundle with the classifier section), and result.json when training ends (what the
// Optuna driver reads). No torch types here.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "spinescan/train/run_result.h"

namespace spinescan {
struct Dataset;
}

namespace spinescan::classify {

struct ClassifierTrainConfig {
  std::string data, split, out;
  // Other paintings of `data`'s cases (`synth lesions` with other seeds): their copies of the
  // training cases are drawn from too, for more and more varied lesions on the same anatomy.
  // Inner validation stays on `data` alone, so it never sees an anatomy trained on.
  std::vector<std::string> extra_data;
  int fold = 0;
  int epochs = 12;
  int batch = 32;
  int samples_per_epoch = 2048;  // crops drawn per epoch (see `balance`)
  std::string balance = "class";  // "class" or "within-source" (classify::Balance in samples.h)
  bool balance_findings = false;  // pathological draws spread evenly over findings (SampleDrawer)
  double lr = 1e-3;
  double weight_decay = 0.05;
  double warmup_fraction = 0.05;  // of all steps
  std::string preset = "atto";
  int crop_size = 64;
  double context = 0.3;
  int neighbours = 0;             // 2.5D: slices on each side as extra channels
  double augment = 0.3;           // box jitter and intensity changes; 0 = none (1 = shifts of 8 %, gain of 15 %)
  double drop_path = 0.1;
  double layer_scale = 1e-6;      // initial residual-branch scale of each ConvNeXt block
  int max_pool_stage = -1;        // the head also reads the maximum over this stage's map (ConvNextOptions)
  int inner_val_cases = 6;        // training cases held out for early stopping, calibration and threshold
  // Early stopping, calibration and threshold also read the extra paintings' copies of the
  // inner-validation cases (never trained on in any painting): as many lesions per case as
  // there are paintings, where 8 cases of one painting hold only a few bodies of a rare finding.
  bool inner_val_all_paintings = false;
  // Counterfactual pairs: the source dataset `data` was painted from. Each drawn crop of a
  // painted body is also cut, with the same box, jitter and intensity draws, from the same
  // case's unpainted volume, and the loss adds pair_weight * softplus(logit_unpainted -
  // logit_painted), averaged over the batch's pairs: the two crops differ only by the lesion,
  // so the only way to lower that term is to respond to the lesion itself.
  std::string unpainted_data;
  double pair_weight = 0;
  int patience = 5;               // epochs without a better inner-validation AUC before stopping
  uint64_t seed = 0;
  std::string device = "auto";
  bool resume = false;
  int max_steps = 0;              // stop after this many steps in all (tests); 0 = no limit
  nlohmann::json to_json() const;
};

// Sets the fields named in `params` (keys as in to_json(): lr, weight_decay, preset,
// crop_size, context, neighbours, augment, drop_path, batch, epochs, samples_per_epoch,
// warmup_fraction, patience, layer_scale, balance, balance_findings, max_pool_stage,
// inner_val_all_paintings, pair_weight), except those in `keep` (flags the user
// gave explicitly).
// ConfigError for an unknown key or a value of the wrong type.
void apply_params(ClassifierTrainConfig& config, const nlohmann::json& params, const std::set<std::string>& keep = {});

// best_score: the inner-validation AUC per vertebra (mean over slices), within source.
using ClassifierTrainResult = train::RunResult;

// The training cases held out for early stopping and calibration: n_val of them (at most all
// but one), half from cases with a pathological body so the AUC is defined, the rest from
// cases without one, or with one when those run short. Returns (train, inner_val), each sorted.
std::pair<std::vector<std::string>, std::vector<std::string>> split_inner(const Dataset& d, std::vector<std::string> cases,
                                                                          int n_val, uint64_t seed);

ClassifierTrainResult train_classifier(const ClassifierTrainConfig& config);

}  // namespace spinescan::classify
