#pragma once
// The level net: a small ConvNeXt that tells, from the picture around the lowest body a
// detector found, whether that body is the lowest labelled one (L5) or the unlabelled one
// below it (S1, the top of the sacrum). A detector trained where the sacrum is background
// boxes S1 now and then on new studies (6 of 47 here), and the records of out-of-fold
// detectors show that only a handful of times; ground truth shows both kinds in every
// training study: the lowest labelled body, and a box one vertebral step below it
// (one_step_below), slice by slice. The crop is wide (a body height of context on every
// side) so that what lies below is in view: a disc and then the sacrum under L5, the fused
// sacral segments under S1. Trained class-balanced with label smoothing, so its mean logit
// over a body's slices reads as a bounded log likelihood ratio (aggregate::LevelModel).
// No torch types here.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/classify/samples.h"

namespace spinescan::levels {

struct LevelNetOptions {
  std::string preset = "atto";
  int crop_size = 64;
  double context = 1.0;  // margin on each side, as a fraction of the box's larger side
  int steps = 500;
  // A checkpoint every this many steps (a multiple of it when steps are more); one epoch of
  // `steps` when they are fewer.
  int steps_per_epoch = 50;
  int max_steps = 0;  // stop after this many steps in all (tests of resuming); 0 = no limit
  int batch = 32;
  double lr = 1e-3;
  double weight_decay = 0.05;
  double label_smoothing = 0.1;  // targets 0.05 / 0.95: logits stay near +-3
  double augment = 1.0;          // box jitter (shifts up to 15 %, size 20 %) and intensity changes
  uint64_t seed = 0;
  std::string device = "cpu";
  nlohmann::json to_json() const;
};

// One crop to learn from: a central slice (box area at least half the body's largest) of the
// lowest labelled body (below = 0) or of the box one step below it (below = 1).
struct LevelNetExample {
  int case_index = 0;  // into ClassifierData::cases
  int slice = 0;
  ops::Box box;
  int below = 0;
};
std::vector<LevelNetExample> level_net_examples(const classify::ClassifierData& data);

// The net's two readings of a column's lowest body. `direct` reads the detector's own boxes
// on it. `projected` reads the box one vertebral step below the body above it (one_step_below
// of the two bodies above; NaN with fewer than three bodies), which is how the net's training
// boxes below are made and does not depend on the detector's box on the lowest body: a
// detector trained where the sacrum is background boxes S1 erratically (too high, too low,
// too large), and the direct reading of those boxes flipped with the training seed. On the
// other hand the step at the lumbosacral junction differs from the one above it, so the
// projected box of a true L5 can be off centre. The two fail on different studies, so their
// mean is what the level model uses (`logit()`).
struct LowestBodyReading {
  double direct = std::numeric_limits<double>::quiet_NaN();
  double projected = std::numeric_limits<double>::quiet_NaN();
  // The mean of the readings there are; NaN when there is none.
  double logit() const;
};

class LevelNet {
 public:
  LevelNet();
  ~LevelNet();
  LevelNet(LevelNet&&) noexcept;
  LevelNet& operator=(LevelNet&&) noexcept;
  bool empty() const;
  // Mean logit over the track's central slices (> 0: the body below the lowest labelled one).
  double logit(const Volume<float>& normalized, const aggregate::Track& track) const;
  // Both readings of the lowest of `column` (tracks superior -> inferior; empty: both NaN).
  LowestBodyReading read_lowest(const Volume<float>& normalized, const std::vector<aggregate::Track>& column) const;
  // The largest reading the net was trained towards: the logit of its smoothed target (2.94
  // for label smoothing 0.1; a net trained without smoothing has none: the default's).
  double ceiling() const;
  // Whether a reading (LowestBodyReading::logit) says the lowest body looks neither clearly
  // lumbar nor clearly sacral: smaller in size than half the ceiling (1.47 for label smoothing
  // 0.1). That is the look of a
  // lumbosacral transitional vertebra (a sacralised L5, a lumbarised S1), where counting from
  // the sacrum can name every body one level off. NaN is not indecisive.
  bool indecisive(double reading) const;
  // The weights to `weights_file` (float16, float32 again at load); spec() describes them
  // (crop recipe, network) for load().
  void save(const std::filesystem::path& weights_file) const;
  nlohmann::json spec() const;
  static LevelNet load(const std::filesystem::path& weights_file, const nlohmann::json& spec);
  // The checks load() makes on `spec` before it reads any weights; ModelError naming the field.
  static void check_spec(const nlohmann::json& spec);
  // Trains in the run folder `run_folder` (train/training_run.h: config.json, metrics.jsonl,
  // checkpoints/; no best/, the last epoch is the net), continuing it with `resume`. Throws
  // Interrupted on Ctrl-C and ConfigError when max_steps stops it before the last epoch.
  static LevelNet train(const classify::ClassifierData& data, const LevelNetOptions& options,
                        const std::filesystem::path& run_folder, bool resume = false);
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace spinescan::levels
