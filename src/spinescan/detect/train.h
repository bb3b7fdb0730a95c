#pragma once
// `spinescan train detector`: training on a dataset fold, with a run folder that holds the
// resolved config, the git revision, per-epoch metrics (metrics.jsonl), resumable
// checkpoints and the best model as a bundle (best/). No torch types here, so the CLI
// needs no torch headers.
#include <cstdint>
#include <string>
#include <vector>

#include "spinescan/train/run_result.h"

namespace spinescan::detect {

struct DetectorTrainConfig {
  std::string data;        // dataset folder
  std::string split;       // splits.json
  int fold = 0;            // trains on the fold's train cases; its val cases stay unseen
  std::string out;         // run folder
  int epochs = 40;
  int batch = 8;
  int samples_per_epoch = 480;  // slices drawn per epoch (each case equally likely)
  double lr = 5e-4;
  double weight_decay = 1e-4;
  int warmup_steps = 100;
  double empty_fraction = 0.1;  // share of drawn slices without any body
  // Share of the other draws taken from slices cutting the side of a body (its section there
  // under half its largest in the case): the sections an unseen scanner's lateral slices are
  // missed on (docs/model_card.md). 0 = no preference.
  double side_fraction = 0;
  int inner_val_cases = 4;      // training cases held out to pick the best epoch
  int canvas_size = 256;
  double pixel_mm = 1.25;
  double context_mm = 0;        // sagittal context (CanvasOptions::context_mm); 0 = one slice
  std::string box_loss = "smooth_l1";
  double augment = 1.0;         // 0 = none, 1 = default strength
  std::string augment_preset = "scanner";  // detect/augment.h: scanner | basic
  uint64_t seed = 0;
  std::string device = "auto";  // cpu | cuda | auto
  bool resume = false;
  int max_steps = 0;            // stop after this many steps in all (tests); 0 = no limit
  // Narrower/shallower nets for tests: widths of ResNet stages scaled by 1/width_divisor.
  int width_divisor = 1;
  int fpn_channels = 128;
  int head_convs = 2;
  // Anchor scales per location (AnchorOptions::scales); empty: the default three.
  std::vector<double> anchor_scales;
  // Distillation (detect/distillation.h): a trained detector (bundle or run folder) whose
  // outputs on each augmented batch the net also learns, weighted by `distill_weight`; it must
  // share the canvas and anchors. Empty: labelled boxes only.
  std::string distill_from;
  double distill_weight = 1.0;
};

using DetectorTrainResult = train::RunResult;  // best_score: the inner-validation mean IoU

DetectorTrainResult train_detector(const DetectorTrainConfig& config);

}  // namespace spinescan::detect
