#include "spinescan/detect/train.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/augment.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/distillation.h"
#include "spinescan/detect/inference.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/train/training_run.h"

namespace spinescan::detect {
namespace {

CanvasOptions canvas_options(const DetectorTrainConfig& c) {
  CanvasOptions o;
  o.size = c.canvas_size;
  o.pixel_mm = c.pixel_mm;
  o.context_mm = c.context_mm;
  return o;
}

RetinaNetOptions model_options(const DetectorTrainConfig& c) {
  RetinaNetOptions o;
  for (auto& w : o.backbone.widths) w = std::max(4, w / c.width_divisor);
  o.backbone.in_channels = canvas_options(c).channels();
  o.fpn.out_channels = c.fpn_channels;
  o.head.num_convs = c.head_convs;
  o.head.group_norm_groups = std::min(16, c.fpn_channels / 4);
  o.box_loss = c.box_loss;
  if (!c.anchor_scales.empty()) o.anchors.scales = c.anchor_scales;
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
          {"side_fraction", c.side_fraction},
          {"inner_val_cases", c.inner_val_cases},
          {"canvas_size", c.canvas_size},
          {"pixel_mm", c.pixel_mm},
          {"context_mm", c.context_mm},
          {"box_loss", c.box_loss},
          {"augment", c.augment},
          {"augment_preset", c.augment_preset},
          {"seed", c.seed},
          {"device", c.device},
          {"width_divisor", c.width_divisor},
          {"fpn_channels", c.fpn_channels},
          {"head_convs", c.head_convs},
          {"distill_from", c.distill_from},
          {"distill_weight", c.distill_weight},
          {"anchor_scales", c.anchor_scales}};
}

eval::DetectionSummary validate(RetinaNet& net, const std::vector<CanvasSlice>& slices, const CanvasOptions& canvas,
                                double score, const torch::Device& device) {
  net->eval();
  auto results = detect_canvas_slices(net, slices, canvas, device);
  net->train();
  // Scored on slices through bodies only (with sagittal context the empty ones were loaded too:
  // they are the context of the outermost sections).
  results.erase(std::remove_if(results.begin(), results.end(), [](const eval::SliceResult& r) { return r.truth.empty(); }),
                results.end());
  return eval::summarize_detection(results, score);
}

}  // namespace

DetectorTrainResult train_detector(const DetectorTrainConfig& c) {
  SPINESCAN_CHECK_AS(c.side_fraction >= 0 && c.side_fraction <= 1, ConfigError, "--side-fraction must be in [0, 1]");
  SPINESCAN_CHECK_AS(c.epochs >= 1 && c.batch >= 1 && c.samples_per_epoch >= c.batch, ConfigError,
                     "need epochs >= 1, batch >= 1 and samples-per-epoch >= batch");
  SPINESCAN_CHECK_AS(c.lr > 0 && c.weight_decay >= 0, ConfigError, "need lr > 0 and weight decay >= 0");
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
  nlohmann::json config = config_json(c);
  config["model"] = model_options(c).to_json();
  const AugmentRanges ranges = augment_preset(c.augment_preset);
  config["augment_ranges"] = to_json(ranges);
  config["train_cases"] = train_cases;
  config["inner_val_cases"] = inner_val;
  config["heldout_cases"] = splits.folds[static_cast<size_t>(c.fold)].val;
  train::TrainingRun run(c.out, config, c.resume, config_json(DetectorTrainConfig{}));

  SliceDataOptions data_options;
  data_options.canvas = canvas_options(c);
  data_options.canvas.validate();
  log_info("loading " + std::to_string(train_cases.size()) + " training and " + std::to_string(inner_val.size()) +
           " inner-validation cases");
  Progress load_progress("load", static_cast<int64_t>(train_cases.size() + inner_val.size()), "cases");
  const auto train_slices = load_canvas_slices(dataset, train_cases, data_options,
                                               [&](size_t d, size_t) { load_progress.update(static_cast<int64_t>(d)); });
  auto val_options = data_options;
  val_options.include_empty_slices = data_options.canvas.channels() > 1;
  const auto val_slices = load_canvas_slices(dataset, inner_val, val_options, [&](size_t d, size_t) {
    load_progress.update(static_cast<int64_t>(train_cases.size() + d));
  });
  load_progress.finish();

  torch::manual_seed(c.seed);  // initial weights depend on the seed only
  RetinaNet net(model_options(c));
  net->to(device);
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  LoadedDetector teacher;
  if (!c.distill_from.empty()) {
    SPINESCAN_CHECK_AS(c.distill_weight > 0, ConfigError, "--distill-weight must be above 0");
    teacher = load_detector(c.distill_from, device, true);
    const CanvasOptions& tc = teacher.spec.canvas;
    const AnchorOptions& ta = teacher.spec.model.anchors;
    const AnchorOptions& sa = net->options().anchors;
    SPINESCAN_CHECK_AS(tc.size == data_options.canvas.size && tc.pixel_mm == data_options.canvas.pixel_mm &&
                           tc.context_mm == data_options.canvas.context_mm && ta.strides == sa.strides &&
                           ta.sizes == sa.sizes && ta.scales == sa.scales && ta.aspect_ratios == sa.aspect_ratios,
                       ConfigError, "--distill-from ", c.distill_from,
                       ": the teacher's canvas or anchors differ from this training's (distillation needs the same)");
    log_info("distilling from " + c.distill_from + " (weight " + std::to_string(c.distill_weight) + ")");
  }

  train::EpochPlan plan;
  plan.epochs = c.epochs;
  plan.steps_per_epoch = c.samples_per_epoch / c.batch;
  plan.max_steps = c.max_steps;
  plan.seed = c.seed;
  plan.lr = {c.lr, c.warmup_steps, 0.01};
  const int64_t min_area_px = static_cast<int64_t>(std::ceil(data_options.min_body_area_mm2 / (c.pixel_mm * c.pixel_mm)));
  const DrawPool draw_pool = make_draw_pool(train_slices);
  std::vector<size_t> order;  // the epoch's slices, batch after batch
  train::Stage stage;
  stage.name = "train";
  stage.begin_epoch = [&](int, Rng& rng) {
    order = draw_training_slices(draw_pool, plan.steps_per_epoch * c.batch, c.empty_fraction, c.side_fraction, rng);
  };
  stage.step = [&](int, int step_in_epoch, Rng& rng) {
    const auto first = order.begin() + static_cast<std::ptrdiff_t>(step_in_epoch) * c.batch;
    const std::vector<size_t> pick(first, first + c.batch);
    std::vector<SliceAugmentation> augmentations;
    for (size_t k = 0; k < pick.size(); ++k) augmentations.push_back(draw_augmentation(ranges, c.augment, c.canvas_size, rng));
    Batch batch = make_batch(train_slices, pick, augmentations, data_options.canvas, min_area_px);
    std::vector<torch::Tensor> boxes;
    for (auto& t : batch.boxes) boxes.push_back(t.to(device));
    std::vector<torch::Tensor> labels;
    for (auto& t : batch.labels) labels.push_back(t.to(device));
    const auto images = batch.images.to(device);
    const auto out = net->forward(images);
    const auto loss = net->loss(out, boxes, labels);
    auto total = loss.total();
    train::StepLoss reported{0, {{"classification", loss.classification.item<double>()}, {"box", loss.box_regression.item<double>()}}};
    if (teacher.net) {
      HeadOutputs taught;
      {
        torch::NoGradGuard no_grad;
        taught = teacher.net->forward(images);
      }
      const LossTerms kd = distillation_loss(out, taught, net->options().smooth_l1_beta);
      total = total + c.distill_weight * kd.total();
      reported.parts.emplace_back("distill_classification", kd.classification.item<double>());
      reported.parts.emplace_back("distill_box", kd.box_regression.item<double>());
    }
    optimizer.zero_grad();
    total.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 10.0);
    optimizer.step();
    reported.total = total.item<double>();
    return reported;
  };
  eval::DetectionSummary v;
  stage.validate = [&](int) {
    v = {};
    if (!val_slices.empty()) v = validate(net, val_slices, data_options.canvas, 0.3, device);
    char summary[96];
    std::snprintf(summary, sizeof summary, "inner-val mean IoU %.3f, recall@0.5 %.3f", v.mean_iou, v.recall_at_50);
    return train::EpochScore{v.mean_iou,
                             {{"val_mean_iou", v.mean_iou},
                              {"val_recall_at_50", v.recall_at_50},
                              {"val_precision_at_50", v.precision_at_50},
                              {"val_ap50", v.ap50}},
                             summary};
  };
  stage.save_best = [&](int epoch, const train::EpochScore&) {
    DetectorSpec spec;
    spec.model = net->options();
    spec.canvas = data_options.canvas;
    spec.provenance = {{"run", run.config()},
                       {"epoch", epoch + 1},
                       {"inner_validation", {{"mean_iou", v.mean_iou}, {"recall_at_50", v.recall_at_50}, {"ap50", v.ap50}}}};
    save_detector(net, spec, run.best_folder(), false);
  };
  return run.run(*net, optimizer, plan, stage);
}

}  // namespace spinescan::detect
