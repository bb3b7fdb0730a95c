#pragma once
// How a training run ended (train/training_run.h); no torch types, so the CLI and the
// trainers' headers can hold it.

namespace spinescan::train {

struct RunResult {
  int epochs_done = 0;
  int best_epoch = 0;      // 1-based; 0 before any epoch ended
  double best_score = -1;  // the stage's validation score of best_epoch (the detector: inner-val mean IoU;
                           // the classifier: inner-val within-source vertebra AUC)
  double first_loss = 0, last_loss = 0;  // mean loss of the first and the last epoch
  bool interrupted = false, stopped_early = false;
};

}  // namespace spinescan::train
