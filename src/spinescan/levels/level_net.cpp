#include "spinescan/levels/level_net.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "spinescan/classify/classifier.h"
#include "spinescan/classify/crops.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/rng.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/inference.h"
#include "spinescan/models/convnext.h"
#include "spinescan/levels/level_examples.h"
#include "spinescan/train/training_run.h"

namespace spinescan::levels {

namespace fs = std::filesystem;

nlohmann::json LevelNetOptions::to_json() const {
  return {{"preset", preset}, {"crop_size", crop_size}, {"context", context}, {"steps", steps}, {"batch", batch},
          {"lr", lr}, {"weight_decay", weight_decay}, {"label_smoothing", label_smoothing}, {"augment", augment},
          {"seed", seed}, {"steps_per_epoch", steps_per_epoch}};
}

std::vector<LevelNetExample> level_net_examples(const classify::ClassifierData& data) {
  std::vector<LevelNetExample> out;
  for (size_t ci = 0; ci < data.cases.size(); ++ci) {
    const auto pair = lowest_and_below(data, ci);
    if (!pair) continue;
    for (const auto* track : {&pair->lowest, &pair->below}) {
      const int is_below = track == &pair->below ? 1 : 0;
      if (is_below && !pair->below_inside) continue;
      for (const auto& b : aggregate::central_boxes(*track))
        out.push_back({static_cast<int>(ci), b.slice, b.box, is_below});
    }
  }
  return out;
}

struct LevelNet::Impl {
  models::ConvNextOptions model;
  classify::CropOptions crop;
  nlohmann::json training;  // how it was trained: options.to_json() of train(), as stored for load()
  models::ConvNext net{nullptr};
};

LevelNet::LevelNet() = default;
LevelNet::~LevelNet() = default;
LevelNet::LevelNet(LevelNet&&) noexcept = default;
LevelNet& LevelNet::operator=(LevelNet&&) noexcept = default;
bool LevelNet::empty() const { return !impl_; }

double LevelNet::logit(const Volume<float>& normalized, const aggregate::Track& track) const {
  SPINESCAN_CHECK(impl_ != nullptr, "level net: no network");
  std::vector<std::vector<float>> crops;
  for (const auto& b : aggregate::central_boxes(track))
    crops.push_back(classify::extract_crop(normalized, b.slice, b.box, impl_->crop));
  if (crops.empty()) return std::nan("");
  const auto logits = classify::classifier_logits(impl_->net, crops, impl_->crop, torch::kCPU);
  double sum = 0;
  for (double l : logits) sum += l;
  return sum / static_cast<double>(logits.size());
}

double LowestBodyReading::logit() const {
  if (std::isnan(direct)) return projected;
  if (std::isnan(projected)) return direct;
  return 0.5 * (direct + projected);
}

double LevelNet::ceiling() const {
  SPINESCAN_CHECK(impl_ != nullptr, "level net: no network");
  double smoothing = impl_->training.value("label_smoothing", LevelNetOptions{}.label_smoothing);
  if (smoothing <= 0) smoothing = LevelNetOptions{}.label_smoothing;
  return std::log((1 - smoothing / 2) / (smoothing / 2));
}

bool LevelNet::indecisive(double reading) const { return std::isfinite(reading) && std::abs(reading) < 0.5 * ceiling(); }

LowestBodyReading LevelNet::read_lowest(const Volume<float>& normalized, const std::vector<aggregate::Track>& column) const {
  LowestBodyReading out;
  const size_t n = column.size();
  if (n == 0) return out;
  out.direct = logit(normalized, column[n - 1]);
  if (n >= 3) out.projected = logit(normalized, one_step_below(column[n - 2], column[n - 3]));
  return out;
}

nlohmann::json LevelNet::spec() const {
  SPINESCAN_CHECK(impl_ != nullptr, "level net: no network");
  return {{"model", classify::convnext_options_to_json(impl_->model)},
          {"crop", {{"size", impl_->crop.size}, {"context", impl_->crop.context}, {"neighbours", impl_->crop.neighbours}}},
          {"training", impl_->training}};
}

void LevelNet::save(const fs::path& weights_file) const {
  SPINESCAN_CHECK(impl_ != nullptr, "level net: no network");
  // Half precision halves what a bundle carries (6.8 MB for "atto"); logits move by ~1e-3.
  detect::save_weights(*impl_->net, weights_file, /*half_precision=*/true);
}

namespace {
// The network and crop recipe a level net's spec describes, checked.
void parse_level_net_spec(const nlohmann::json& spec, LevelNet::Impl& impl) {
  try {
    impl.model = classify::convnext_options_from_json(spec.at("model"));
    impl.crop.size = spec.at("crop").at("size");
    impl.crop.context = spec.at("crop").at("context");
    impl.crop.neighbours = spec.at("crop").value("neighbours", 0);
    impl.training = spec.value("training", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("the level net's description is incomplete (") + e.what() + ")");
  }
  impl.crop.validate();
}
}  // namespace

void LevelNet::check_spec(const nlohmann::json& spec) {
  Impl impl;
  parse_level_net_spec(spec, impl);
}

LevelNet LevelNet::load(const fs::path& weights_file, const nlohmann::json& spec) {
  LevelNet out;
  out.impl_ = std::make_unique<Impl>();
  auto& impl = *out.impl_;
  parse_level_net_spec(spec, impl);
  impl.net = detect::load_net<models::ConvNext>(impl.model, weights_file);
  impl.net->eval();
  return out;
}

LevelNet LevelNet::train(const classify::ClassifierData& data, const LevelNetOptions& o, const fs::path& run_folder, bool resume) {
  SPINESCAN_CHECK_AS(o.steps >= 1 && o.steps_per_epoch >= 1 && o.batch >= 2 && o.lr > 0 && o.label_smoothing >= 0 &&
                         o.label_smoothing < 0.5,
                     ConfigError, "level net: need steps >= 1, steps per epoch >= 1, batch >= 2, lr > 0 and label smoothing in [0, 0.5)");
  const int steps_per_epoch = std::min(o.steps, o.steps_per_epoch);
  SPINESCAN_CHECK_AS(o.steps % steps_per_epoch == 0, ConfigError, "level net: steps (", o.steps,
                     ") must be a multiple of the steps per epoch (", o.steps_per_epoch, ")");
  const auto examples = level_net_examples(data);
  std::vector<size_t> by_class[2];
  for (size_t i = 0; i < examples.size(); ++i) by_class[examples[i].below].push_back(i);
  SPINESCAN_CHECK(!by_class[0].empty() && !by_class[1].empty(),
                  "level net: the training cases give no examples of one kind (need cases with two or more labelled bodies)");
  LevelNet out;
  out.impl_ = std::make_unique<Impl>();
  auto& impl = *out.impl_;
  impl.training = o.to_json();
  impl.crop.size = o.crop_size;
  impl.crop.context = o.context;
  impl.crop.validate();
  impl.model = models::ConvNextOptions::preset(o.preset);
  impl.model.validate();
  const torch::Device device = detect::parse_device(o.device);
  nlohmann::json config = impl.training;
  config["model"] = classify::convnext_options_to_json(impl.model);
  config["cases"] = nlohmann::json::array();
  for (const auto& k : data.cases) config["cases"].push_back(k.name);
  train::TrainingRun run(run_folder, config, resume, LevelNetOptions{}.to_json());

  torch::manual_seed(o.seed);
  impl.net = models::ConvNext(impl.model);
  impl.net->to(device);
  torch::optim::AdamW optimizer(impl.net->parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  log_info("level net: " + std::to_string(by_class[0].size()) + " slices of lowest labelled bodies, " +
           std::to_string(by_class[1].size()) + " of the body below, " + std::to_string(data.cases.size()) + " cases");
  train::EpochPlan plan;
  plan.epochs = o.steps / steps_per_epoch;
  plan.steps_per_epoch = steps_per_epoch;
  plan.max_steps = o.max_steps;
  plan.seed = o.seed;
  plan.rng = train::RngStream::kContinuous;  // one stream, as the net was trained before it had epochs
  plan.lr = {o.lr, 0, 0.0};                  // cosine to zero, no warm-up
  const int64_t s = impl.crop.size;
  train::Stage stage;
  stage.name = "level net";
  stage.step = [&](int, int, Rng& rng) {
    auto images = torch::empty({o.batch, 1, s, s});
    auto targets = torch::empty({o.batch, 1});
    for (int b = 0; b < o.batch; ++b) {
      // Classes alternate, so every batch is balanced and the logit is a likelihood ratio.
      const int cls = b % 2;
      const auto& e = examples[by_class[cls][rng.below(by_class[cls].size())]];
      classify::CropJitter jitter;
      jitter.shift_x = rng.uniform(-0.15, 0.15) * o.augment;
      jitter.shift_y = rng.uniform(-0.15, 0.15) * o.augment;
      jitter.scale = rng.uniform(-0.2, 0.2) * o.augment;
      auto pixels = classify::extract_crop(data.cases[static_cast<size_t>(e.case_index)].normalized, e.slice, e.box, impl.crop, jitter);
      if (o.augment > 0) classify::augment_crop_intensity(pixels, o.augment, rng);
      std::memcpy(images[b].data_ptr<float>(), pixels.data(), sizeof(float) * pixels.size());
      targets[b][0] = static_cast<float>(cls == 1 ? 1 - o.label_smoothing / 2 : o.label_smoothing / 2);
    }
    const auto loss = torch::binary_cross_entropy_with_logits(impl.net->forward(images.to(device)), targets.to(device));
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(impl.net->parameters(), 5.0);
    optimizer.step();
    return train::StepLoss{loss.item<double>(), {}};
  };
  // No validation of its own: the level model measures the net on held-out cases
  // (train_levels), so the last epoch is the one kept and the run has no best/.
  stage.validate = [](int epoch) { return train::EpochScore{static_cast<double>(epoch), {}, ""}; };
  const train::RunResult r = run.run(*impl.net, optimizer, plan, stage);
  SPINESCAN_CHECK_AS(!r.interrupted, Interrupted, "level net: interrupted; the last complete epoch is saved in ",
                     run_folder.string(), " (continue with --resume)");
  SPINESCAN_CHECK_AS(r.epochs_done == plan.epochs, ConfigError, "level net: stopped after ", r.epochs_done, " of ", plan.epochs,
                     " epochs (--max-steps)");
  impl.net->to(torch::kCPU);
  impl.net->eval();
  return out;
}

}  // namespace spinescan::levels
