#include "spinescan/detect/train.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <fstream>
#include <map>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/core/rng.h"
#include "spinescan/core/version.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/augment.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/inference.h"
#include "spinescan/detect/slice_data.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace spinescan::detect {
namespace {

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }


RetinaNetOptions model_options(const DetectorTrainConfig& c) {
  RetinaNetOptions o;
  for (auto& w : o.backbone.widths) w = std::max(4, w / c.width_divisor);
  o.fpn.out_channels = c.fpn_channels;
  o.head.num_convs = c.head_convs;
  o.head.group_norm_groups = std::min(16, c.fpn_channels / 4);
  o.box_loss = c.box_loss;
  // Anchor sizes follow the canvas pixel: bodies are 14-34 px at 1.25 mm.
  for (auto& s : o.anchors.sizes) s *= 1.25 / c.pixel_mm;
  return o;
}

nlohmann::json config_json(const DetectorTrainConfig& c) {
  return {{"data", c.data},
          {"split", c.split},
          {"fold", c.fold},
          {"epochs", c.epochs},
          {"batch", c.batch},
          {"samples_per_epoch", c.samples_per_epoch},
          {"lr", c.lr},
          {"weight_decay", c.weight_decay},
          {"warmup_steps", c.warmup_steps},
          {"empty_fraction", c.empty_fraction},
          {"inner_val_cases", c.inner_val_cases},
          {"canvas_size", c.canvas_size},
          {"pixel_mm", c.pixel_mm},
          {"box_loss", c.box_loss},
          {"augment", c.augment},
          {"augment_preset", c.augment_preset},
          {"seed", c.seed},
          {"device", c.device},
          {"width_divisor", c.width_divisor},
          {"fpn_channels", c.fpn_channels},
          {"head_convs", c.head_convs}};
}

// Slices drawn for one epoch: each case equally likely, then a slice through a body;
// `empty_fraction` of the draws are slices without bodies (so the detector learns silence).
std::vector<size_t> draw_epoch(const std::vector<CanvasSlice>& slices, int count, double empty_fraction, Rng& rng) {
  std::map<std::string, std::vector<size_t>> with_body;
  std::vector<size_t> empty;
  for (size_t i = 0; i < slices.size(); ++i) {
    bool any = false;
    for (const auto& g : slices[i].truth) any |= !g.ignore;
    if (any) with_body[slices[i].case_name].push_back(i);
    else empty.push_back(i);
  }
  SPINESCAN_CHECK(!with_body.empty(), "no training slice holds a vertebral body");
  std::vector<const std::vector<size_t>*> cases;
  for (const auto& [name, idx] : with_body) cases.push_back(&idx);
  std::vector<size_t> out;
  for (int i = 0; i < count; ++i) {
    if (!empty.empty() && rng.chance(empty_fraction)) {
      out.push_back(empty[rng.below(empty.size())]);
    } else {
      const auto& idx = *cases[rng.below(cases.size())];
      out.push_back(idx[rng.below(idx.size())]);
    }
  }
  return out;
}

eval::DetectionSummary validate(RetinaNet& net, const std::vector<CanvasSlice>& slices, int size, double score,
                                const torch::Device& device) {
  net->eval();
  const auto results = detect_canvas_slices(net, slices, size, device);
  net->train();
  return eval::summarize_detection(results, score);
}

struct CheckpointState {
  int epoch = -1;  // last completed epoch
  int64_t step = 0;
  double best_mean_iou = -1;
  int best_epoch = -1;
  double first_loss = 0;
};

}  // namespace

DetectorTrainResult train_detector(const DetectorTrainConfig& c) {
  SPINESCAN_CHECK_AS(c.epochs >= 1 && c.batch >= 1 && c.samples_per_epoch >= c.batch, ConfigError,
                     "need epochs >= 1, batch >= 1 and samples-per-epoch >= batch");
  SPINESCAN_CHECK_AS(c.lr > 0 && c.weight_decay >= 0, ConfigError, "need lr > 0 and weight decay >= 0");
  const fs::path run(c.out);
  const torch::Device device = parse_device(c.device);
  const Dataset dataset = load_dataset(c.data);
  const Splits splits = Splits::load(c.split);
  SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(splits.folds.size()), ConfigError, "--fold ", c.fold,
                     " not in the splits file (", splits.folds.size(), " folds)");
  // Inner validation cases (for choosing the best epoch) come out of the training cases,
  // so the fold's own validation cases stay unseen until `evaluate`.
  std::vector<std::string> train_cases = splits.folds[static_cast<size_t>(c.fold)].train, inner_val;
  {
    Rng pick(c.seed ^ 0x5EEDULL);
    std::vector<std::string> shuffled = train_cases;
    pick.shuffle(shuffled);
    const int n_val = std::min<int>(c.inner_val_cases, static_cast<int>(shuffled.size()) - 1);
    inner_val.assign(shuffled.begin(), shuffled.begin() + std::max(0, n_val));
    std::sort(inner_val.begin(), inner_val.end());
    train_cases.erase(std::remove_if(train_cases.begin(), train_cases.end(),
                                     [&](const std::string& s) { return std::count(inner_val.begin(), inner_val.end(), s) > 0; }),
                      train_cases.end());
  }
  if (!c.resume && fs::exists(run / "checkpoints" / "last.json"))
    throw ConfigError(run.string() + ": holds a training run already (pass --resume to continue it, or choose another --out)");
  fs::create_directories(run);
  nlohmann::json config = config_json(c);
  config["model"] = model_options(c).to_json();
  const AugmentRanges ranges = augment_preset(c.augment_preset);
  config["augment_ranges"] = to_json(ranges);
  config["train_cases"] = train_cases;
  config["inner_val_cases"] = inner_val;
  config["heldout_cases"] = splits.folds[static_cast<size_t>(c.fold)].val;
  config["git_revision"] = git_revision();
  config["spinescan_version"] = version();
  if (!c.resume) {
    // A run killed before its first checkpoint starts again: its temporaries go, and the
    // epoch it may have logged.
    remove_interrupted_temporaries(run);
    write_text_atomically(run / "config.json", config.dump(2) + "\n");
    fs::remove(run / "metrics.jsonl");
  }

  SliceDataOptions data_options;
  data_options.canvas.size = c.canvas_size;
  data_options.canvas.pixel_mm = c.pixel_mm;
  log_info("loading " + std::to_string(train_cases.size()) + " training and " + std::to_string(inner_val.size()) +
           " inner-validation cases");
  Progress load_progress("load", static_cast<int64_t>(train_cases.size() + inner_val.size()), "cases");
  const auto train_slices = load_canvas_slices(dataset, train_cases, data_options,
                                               [&](size_t d, size_t) { load_progress.update(static_cast<int64_t>(d)); });
  auto val_options = data_options;
  val_options.include_empty_slices = false;
  const auto val_slices = load_canvas_slices(dataset, inner_val, val_options, [&](size_t d, size_t) {
    load_progress.update(static_cast<int64_t>(train_cases.size() + d));
  });
  load_progress.finish();

  torch::manual_seed(c.seed);  // initial weights depend on the seed only
  RetinaNet net(model_options(c));
  net->to(device);
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  CheckpointState state;
  if (c.resume) {
    const auto j = load_training_checkpoint(run, *net, optimizer);
    state.epoch = j.at("epoch");
    state.step = j.at("step");
    state.best_mean_iou = j.at("best_mean_iou");
    state.best_epoch = j.at("best_epoch");
    state.first_loss = j.value("first_loss", 0.0);
    log_info("resuming after epoch " + std::to_string(state.epoch + 1));
  }

  const int steps_per_epoch = c.samples_per_epoch / c.batch;
  const int64_t total_steps = static_cast<int64_t>(steps_per_epoch) * c.epochs;
  const int64_t min_area_px = static_cast<int64_t>(std::ceil(data_options.min_body_area_mm2 / (c.pixel_mm * c.pixel_mm)));
  auto previous_handler = std::signal(SIGINT, on_interrupt);
  g_interrupted = false;
  DetectorTrainResult result;
  result.first_loss = state.first_loss;
  result.epochs_done = state.epoch + 1;
  net->train();
  Progress progress("train", total_steps, "steps", state.step);
  const auto started = std::chrono::steady_clock::now();
  for (int epoch = state.epoch + 1; epoch < c.epochs && !g_interrupted; ++epoch) {
    // Everything random in an epoch derives from (seed, epoch): a resumed run repeats it exactly.
    Rng rng = Rng::derived(c.seed, static_cast<uint64_t>(epoch));
    const auto order = draw_epoch(train_slices, steps_per_epoch * c.batch, c.empty_fraction, rng);
    double loss_sum = 0, cls_sum = 0, box_sum = 0;
    int steps = 0;
    for (int s = 0; s < steps_per_epoch && !g_interrupted; ++s) {
      if (c.max_steps > 0 && state.step >= c.max_steps) break;
      const std::vector<size_t> pick(order.begin() + s * c.batch, order.begin() + (s + 1) * c.batch);
      std::vector<SliceAugmentation> augmentations;
      for (size_t k = 0; k < pick.size(); ++k) augmentations.push_back(draw_augmentation(ranges, c.augment, c.canvas_size, rng));
      Batch batch = make_batch(train_slices, pick, augmentations, c.canvas_size, min_area_px);
      // Linear warm-up, then cosine decay to 1 % of the peak rate.
      const double progress_frac = static_cast<double>(state.step) / std::max<int64_t>(1, total_steps);
      double lr = c.lr * (0.01 + 0.99 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress_frac))));
      if (state.step < c.warmup_steps) lr *= static_cast<double>(state.step + 1) / c.warmup_steps;
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
      std::vector<torch::Tensor> boxes;
      for (auto& t : batch.boxes) boxes.push_back(t.to(device));
      std::vector<torch::Tensor> labels;
      for (auto& t : batch.labels) labels.push_back(t.to(device));
      const auto out = net->forward(batch.images.to(device));
      const auto loss = net->loss(out, boxes, labels);
      const auto total = loss.total();
      optimizer.zero_grad();
      total.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), 10.0);
      optimizer.step();
      loss_sum += total.item<double>();
      cls_sum += loss.classification.item<double>();
      box_sum += loss.box_regression.item<double>();
      ++steps;
      ++state.step;
      char detail[96];
      std::snprintf(detail, sizeof detail, "epoch %d/%d, loss %.4f", epoch + 1, c.epochs, loss_sum / steps);
      progress.update(state.step, detail);
    }
    // A partial epoch (Ctrl-C, or --max-steps reached mid-epoch) is not saved: the last
    // checkpoint stays the last complete epoch, so --resume repeats exactly what was lost.
    if (steps < steps_per_epoch) break;
    const double mean_loss = loss_sum / steps;
    if (epoch == 0) state.first_loss = mean_loss;
    eval::DetectionSummary v;
    if (!val_slices.empty()) v = validate(net, val_slices, c.canvas_size, 0.3, device);
    state.epoch = epoch;
    const bool best = v.mean_iou > state.best_mean_iou;
    if (best) {
      state.best_mean_iou = v.mean_iou;
      state.best_epoch = epoch;
      DetectorSpec spec;
      spec.model = net->options();
      spec.canvas = data_options.canvas;
      spec.provenance = {{"run", config},
                         {"epoch", epoch + 1},
                         {"inner_validation", {{"mean_iou", v.mean_iou}, {"recall_at_50", v.recall_at_50}, {"ap50", v.ap50}}}};
      save_detector(net, spec, run / "best", false);
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const nlohmann::json line = {{"epoch", epoch + 1},
                                 {"step", state.step},
                                 {"lr", static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[0].options()).lr()},
                                 {"loss", mean_loss},
                                 {"loss_classification", cls_sum / steps},
                                 {"loss_box", box_sum / steps},
                                 {"val_mean_iou", v.mean_iou},
                                 {"val_recall_at_50", v.recall_at_50},
                                 {"val_precision_at_50", v.precision_at_50},
                                 {"val_ap50", v.ap50},
                                 {"best", best},
                                 {"elapsed_s", elapsed}};
    save_training_checkpoint(run, *net, optimizer, epoch,
                             {{"epoch", state.epoch},
                              {"step", state.step},
                              {"best_mean_iou", state.best_mean_iou},
                              {"best_epoch", state.best_epoch},
                              {"first_loss", state.first_loss}},
                             line);
    progress.finish();
    char summary[200];
    std::snprintf(summary, sizeof summary, "epoch %d: loss %.4f, inner-val mean IoU %.3f, recall@0.5 %.3f%s", epoch + 1,
                  mean_loss, v.mean_iou, v.recall_at_50, best ? " (best)" : "");
    log_info(summary);
    result.epochs_done = epoch + 1;
    result.last_loss = mean_loss;
    if (c.max_steps > 0 && state.step >= c.max_steps) break;
  }
  std::signal(SIGINT, previous_handler);
  result.interrupted = g_interrupted;
  result.first_loss = state.first_loss;
  result.best_mean_iou = state.best_mean_iou;
  result.best_epoch = state.best_epoch + 1;
  if (result.interrupted) log_warning("interrupted: the last complete epoch is saved; continue with --resume");
  return result;
}

}  // namespace spinescan::detect
