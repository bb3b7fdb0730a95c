#include "spinescan/classify/train.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "spinescan/classify/classifier.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/splits.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/inference.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/train/training_run.h"

namespace spinescan::classify {
namespace {

// Within-source AUC of the per-vertebra mean probability: what early stopping and the
// tuning study maximise. The plain AUC over all sources would reward telling the healthy
// volunteers' scanner from the patients' (see samples.h).
double validation_auc(const ClassifierData& data, const std::vector<double>& p) {
  std::vector<double> scores;
  std::vector<int> labels;
  std::vector<std::string> sources;
  for (const auto& v : aggregate_per_vertebra(data, p))
    if (v.target >= 0) {
      scores.push_back(v.mean_probability);
      labels.push_back(v.target);
      sources.push_back(case_source(v.case_name));
    }
  return within_source_auc(scores, labels, sources);
}

}  // namespace

std::pair<std::vector<std::string>, std::vector<std::string>> split_inner(const Dataset& d, std::vector<std::string> cases,
                                                                          int n_val, uint64_t seed) {
  Rng rng(seed ^ 0xC1A55ULL);
  rng.shuffle(cases);
  std::vector<std::string> with, without, val, train;
  for (const auto& c : cases) (d.has_pathological(c) ? with : without).push_back(c);
  n_val = std::min<int>(n_val, static_cast<int>(cases.size()) - 1);
  const int from_with = std::min<int>(static_cast<int>(with.size()), (n_val + 1) / 2);
  val.assign(with.begin(), with.begin() + from_with);
  for (int i = 0; i < n_val - from_with && i < static_cast<int>(without.size()); ++i) val.push_back(without[static_cast<size_t>(i)]);
  // Too few cases without a finding (a painted dataset has one in nearly every case): the
  // rest come from the cases with one, so the inner validation still has n_val cases.
  for (size_t i = static_cast<size_t>(from_with); static_cast<int>(val.size()) < n_val && i < with.size(); ++i) val.push_back(with[i]);
  for (const auto& c : cases)
    if (std::find(val.begin(), val.end(), c) == val.end()) train.push_back(c);
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  return {train, val};
}

nlohmann::json ClassifierTrainConfig::to_json() const {
  return {{"data", data},         {"split", split},         {"fold", fold},
          {"epochs", epochs},     {"batch", batch},         {"samples_per_epoch", samples_per_epoch},
          {"lr", lr},             {"weight_decay", weight_decay}, {"warmup_fraction", warmup_fraction},
          {"preset", preset},     {"crop_size", crop_size}, {"context", context},
          {"neighbours", neighbours}, {"augment", augment}, {"drop_path", drop_path},
          {"inner_val_cases", inner_val_cases}, {"patience", patience}, {"seed", seed},
          {"layer_scale", layer_scale}, {"balance", balance}, {"device", device},
          {"extra_data", extra_data}, {"balance_findings", balance_findings}, {"max_pool_stage", max_pool_stage},
          {"inner_val_all_paintings", inner_val_all_paintings}, {"unpainted_data", unpainted_data},
          {"pair_weight", pair_weight}};
}

void apply_params(ClassifierTrainConfig& c, const nlohmann::json& params, const std::set<std::string>& keep) {
  SPINESCAN_CHECK_AS(params.is_object(), ConfigError, "params: expected a JSON object");
  for (const auto& [key, value] : params.items()) {
    if (keep.count(key)) continue;
    try {
      if (key == "lr") c.lr = value.get<double>();
      else if (key == "weight_decay") c.weight_decay = value.get<double>();
      else if (key == "preset") c.preset = value.get<std::string>();
      else if (key == "crop_size") c.crop_size = value.get<int>();
      else if (key == "context") c.context = value.get<double>();
      else if (key == "neighbours") c.neighbours = value.get<int>();
      else if (key == "augment") c.augment = value.get<double>();
      else if (key == "drop_path") c.drop_path = value.get<double>();
      else if (key == "batch") c.batch = value.get<int>();
      else if (key == "epochs") c.epochs = value.get<int>();
      else if (key == "samples_per_epoch") c.samples_per_epoch = value.get<int>();
      else if (key == "warmup_fraction") c.warmup_fraction = value.get<double>();
      else if (key == "patience") c.patience = value.get<int>();
      else if (key == "layer_scale") c.layer_scale = value.get<double>();
      else if (key == "balance") c.balance = value.get<std::string>();
      else if (key == "balance_findings") c.balance_findings = value.get<bool>();
      else if (key == "max_pool_stage") c.max_pool_stage = value.get<int>();
      else if (key == "inner_val_all_paintings") c.inner_val_all_paintings = value.get<bool>();
      else if (key == "pair_weight") c.pair_weight = value.get<double>();
      else throw ConfigError("params: unknown key '" + key + "'");
    } catch (const nlohmann::json::exception&) {
      throw ConfigError("params: '" + key + "' has the wrong type (" + value.dump() + ")");
    }
  }
}

ClassifierTrainResult train_classifier(const ClassifierTrainConfig& c) {
  SPINESCAN_CHECK_AS(c.epochs >= 1 && c.batch >= 2 && c.samples_per_epoch >= c.batch, ConfigError,
                     "need epochs >= 1, batch >= 2 and samples-per-epoch >= batch");
  SPINESCAN_CHECK_AS(c.lr > 0 && c.weight_decay >= 0 && c.patience >= 1, ConfigError,
                     "need lr > 0, weight decay >= 0 and patience >= 1");
  balance_from_string(c.balance);  // a bad name fails before any case is read
  SPINESCAN_CHECK_AS(!c.inner_val_all_paintings || !c.extra_data.empty(), ConfigError,
                     "--inner-val-all-paintings needs --extra-data (the other paintings)");
  SPINESCAN_CHECK_AS(c.pair_weight >= 0 && (c.pair_weight > 0) == !c.unpainted_data.empty(), ConfigError,
                     "--pair-weight (> 0) and --unpainted-data go together");
  CropOptions crop;
  crop.size = c.crop_size;
  crop.context = c.context;
  crop.neighbours = c.neighbours;
  crop.validate();
  SPINESCAN_CHECK_AS(c.crop_size % 32 == 0, ConfigError, "crop size must be a multiple of 32 (ConvNeXt downsamples 32x), got ",
                     c.crop_size);
  models::ConvNextOptions model = models::ConvNextOptions::preset(c.preset);
  model.in_channels = crop.channels();
  model.drop_path_rate = c.drop_path;
  model.layer_scale_init = c.layer_scale;
  model.max_pool_stage = c.max_pool_stage;
  model.validate();

  const torch::Device device = detect::parse_device(c.device);
  const Dataset dataset = load_dataset(c.data);
  const Splits splits = Splits::load(c.split);
  SPINESCAN_CHECK_AS(c.fold >= 0 && c.fold < static_cast<int>(splits.folds.size()), ConfigError, "--fold ", c.fold,
                     " not in the splits file (", splits.folds.size(), " folds)");
  const auto [train_cases, inner_val] =
      split_inner(dataset, splits.folds[static_cast<size_t>(c.fold)].train, c.inner_val_cases, c.seed);
  SPINESCAN_CHECK_AS(!inner_val.empty(), ConfigError, "need at least 2 training cases (one for inner validation)");
  nlohmann::json config = c.to_json();
  config["model"] = convnext_options_to_json(model);
  config["train_cases"] = train_cases;
  config["inner_val_cases"] = inner_val;
  config["heldout_cases"] = splits.folds[static_cast<size_t>(c.fold)].val;
  // Runs begun before a setting existed lack its key and resume with it at its default.
  train::TrainingRun run(c.out, config, c.resume, ClassifierTrainConfig{}.to_json());

  log_info("loading " + std::to_string(train_cases.size()) + " training and " + std::to_string(inner_val.size()) +
           " inner-validation cases");
  Progress load_progress("load", static_cast<int64_t>(train_cases.size() + inner_val.size()), "cases");
  ClassifierData train = load_classifier_data(dataset, train_cases, {}, [&](size_t d, size_t) {
    load_progress.update(static_cast<int64_t>(d));
  });
  ClassifierData val = load_classifier_data(dataset, inner_val, {}, [&](size_t d, size_t) {
    load_progress.update(static_cast<int64_t>(train_cases.size() + d));
  });
  load_progress.finish();
  for (const auto& folder : c.extra_data) {
    log_info("loading the " + std::to_string(train_cases.size()) + " training cases of " + folder);
    const Dataset painting = load_dataset(folder);
    append_classifier_data(train, load_classifier_data(painting, train_cases));
    if (c.inner_val_all_paintings) append_classifier_data(val, load_classifier_data(painting, inner_val));
  }
  // The unpainted twin of each training case (every painting's copy of a case shares it), by
  // the training case's index, so a draw needs no lookup by name.
  ClassifierData originals;
  std::vector<size_t> twin_case_of;
  if (c.pair_weight > 0) {
    log_info("loading the " + std::to_string(train_cases.size()) + " unpainted training cases of " + c.unpainted_data);
    originals = load_classifier_data(load_dataset(c.unpainted_data), train_cases);
    std::map<std::string, size_t> original_of;
    for (size_t i = 0; i < originals.cases.size(); ++i) original_of[originals.cases[i].name] = i;
    for (const auto& painted_case : train.cases) {
      const auto twin = original_of.find(painted_case.name);
      SPINESCAN_CHECK_AS(twin != original_of.end() && originals.cases[twin->second].normalized.size == painted_case.normalized.size,
                         DataError, c.unpainted_data, ": case ", painted_case.name,
                         " is missing or not on its painting's grid (is it the dataset the paintings were made from?)");
      twin_case_of.push_back(twin->second);
    }
    SPINESCAN_CHECK_AS(std::any_of(train.samples.begin(), train.samples.end(), [](const CropSample& s) { return s.painted; }),
                       DataError, "--pair-weight: no painted body in the training data (synth lesions' lesions.csv)");
  }
  const size_t inner_val_vertebrae = aggregate_per_vertebra(val, std::vector<double>(val.samples.size(), 0.0)).size();
  log_info("inner validation: " + std::to_string(inner_val_vertebrae) + " vertebrae from " +
           std::to_string(c.inner_val_all_paintings ? 1 + c.extra_data.size() : 1) + " painting(s) of " +
           std::to_string(inner_val.size()) + " cases");

  const SampleDrawer drawer(train, balance_from_string(c.balance), c.balance_findings);
  std::string sources_note;
  if (!drawer.sources_left_out().empty()) {
    sources_note = "; left out (one class only):";
    for (const auto& source : drawer.sources_left_out()) sources_note += " " + source;
  }
  log_info("training vertebrae (" + c.balance + " balance" + (c.balance_findings ? ", by finding" : "") + "): " + std::to_string(drawer.vertebrae(1)) + " pathological, " +
           std::to_string(drawer.vertebrae(0)) + " healthy; " + std::to_string(train.samples.size()) + " slices" + sources_note);

  torch::manual_seed(c.seed);
  models::ConvNext net(model);
  net->to(device);
  torch::optim::AdamW optimizer(net->parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));

  train::EpochPlan plan;
  plan.epochs = c.epochs;
  plan.steps_per_epoch = c.samples_per_epoch / c.batch;
  plan.max_steps = c.max_steps;
  plan.patience = c.patience;
  // Ties go to the later epoch: a small inner validation often saturates (AUC 1 on the
  // phantoms from epoch 7 of 20), and the later model has seen more training.
  plan.ties_are_better = true;
  plan.seed = c.seed;
  const int64_t total_steps = static_cast<int64_t>(plan.steps_per_epoch) * c.epochs;
  plan.lr = {c.lr, std::max<int64_t>(1, static_cast<int64_t>(c.warmup_fraction * static_cast<double>(total_steps))), 0.01};
  train::Stage stage;
  stage.name = "train";
  stage.step = [&](int, int, Rng& rng) {
    auto images = torch::empty({c.batch, crop.channels(), crop.size, crop.size});
    auto targets = torch::empty({c.batch, 1});
    std::vector<std::vector<float>> twins;  // unpainted crops of the batch's painted samples
    std::vector<int64_t> twin_of;           // the batch row each twin pairs with
    for (int b = 0; b < c.batch; ++b) {
      const CropSample& sample = train.samples[drawer.draw(rng)];
      CropJitter jitter;
      if (c.augment > 0) {
        jitter.shift_x = rng.uniform(-0.08, 0.08) * c.augment;
        jitter.shift_y = rng.uniform(-0.08, 0.08) * c.augment;
        jitter.scale = rng.uniform(-0.12, 0.12) * c.augment;
      }
      const auto case_index = static_cast<size_t>(sample.case_index);
      if (c.pair_weight > 0 && sample.painted) {
        // The same box, jitter and (from a copy of the generator) intensity draws: the pair
        // differs only where the lesion was painted, and the main stream draws as unpaired.
        twins.push_back(extract_crop(originals.cases[twin_case_of[case_index]].normalized, sample.slice, sample.box, crop, jitter));
        Rng twin_rng = rng;
        if (c.augment > 0) augment_crop_intensity(twins.back(), c.augment, twin_rng);
        twin_of.push_back(b);
      }
      auto pixels = extract_crop(train.cases[case_index].normalized, sample.slice, sample.box, crop, jitter);
      if (c.augment > 0) augment_crop_intensity(pixels, c.augment, rng);
      std::memcpy(images[b].data_ptr<float>(), pixels.data(), sizeof(float) * pixels.size());
      targets[b][0] = static_cast<float>(sample.target);
    }
    torch::manual_seed(rng.next() & 0x7FFFFFFFFFFFULL);  // drop-path draws, repeatable per step
    torch::Tensor logits, loss, bce, pair;
    if (twins.empty()) {
      logits = net->forward(images.to(device));
      loss = torch::binary_cross_entropy_with_logits(logits, targets.to(device));
    } else {
      auto twin_images = torch::empty({static_cast<int64_t>(twins.size()), crop.channels(), crop.size, crop.size});
      for (size_t t = 0; t < twins.size(); ++t)
        std::memcpy(twin_images[static_cast<int64_t>(t)].data_ptr<float>(), twins[t].data(), sizeof(float) * twins[t].size());
      // One forward for both (the ConvNeXt normalises per sample, so batch company does not matter).
      const auto all_logits = net->forward(torch::cat({images, twin_images}).to(device));
      logits = all_logits.slice(0, 0, c.batch);
      const auto twin_logits = all_logits.slice(0, c.batch);
      const auto paired = logits.index_select(0, torch::tensor(twin_of, torch::kLong).to(device));
      bce = torch::binary_cross_entropy_with_logits(logits, targets.to(device));
      pair = torch::softplus(twin_logits - paired).mean();
      loss = bce + c.pair_weight * pair;
    }
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 5.0);
    optimizer.step();
    if (c.pair_weight <= 0) return train::StepLoss{loss.item<double>(), {}};
    // metrics.jsonl's loss_pair: log 2 while the pairs are not told apart (a step that drew no
    // painted crop counts 0, and its whole loss as bce).
    return train::StepLoss{loss.item<double>(),
                           {{"bce", (bce.defined() ? bce : loss).item<double>()}, {"pair", pair.defined() ? pair.item<double>() : 0.0}}};
  };
  std::vector<double> logits;  // the inner-validation slices' logits of the epoch just validated
  stage.validate = [&](int) {
    logits = sample_logits(net, val, crop, device);
    std::vector<double> raw(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) raw[i] = 1 / (1 + std::exp(-logits[i]));
    double auc = validation_auc(val, raw);
    if (!std::isfinite(auc)) auc = 0.5;  // inner validation with one class only: no ranking signal
    char summary[64];
    std::snprintf(summary, sizeof summary, "inner-val within-source vertebra AUC %.3f", auc);
    return train::EpochScore{auc, {{"val_within_source_auc", auc}}, summary};
  };
  stage.save_best = [&](int epoch, const train::EpochScore& score) {
    ClassifierSpec spec;
    spec.preset = c.preset;
    spec.model = model;
    spec.crop = crop;
    // Calibration and threshold from the inner-validation cases: the fold's own
    // validation cases stay unseen until `evaluate classifier`.
    std::vector<double> known_logits;
    std::vector<int> known_labels;
    for (size_t i = 0; i < logits.size(); ++i)
      if (val.samples[i].target >= 0) {
        known_logits.push_back(logits[i]);
        known_labels.push_back(val.samples[i].target);
      }
    if (!known_logits.empty()) std::tie(spec.calibration_scale, spec.calibration_bias) = fit_platt(known_logits, known_labels);
    std::vector<double> calibrated(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) calibrated[i] = spec.probability(logits[i]);
    std::vector<double> vmax;
    std::vector<int> vlabels;
    for (const auto& v : aggregate_per_vertebra(val, calibrated))
      if (v.target >= 0) {
        vmax.push_back(v.max_probability);
        vlabels.push_back(v.target);
      }
    if (!vmax.empty()) spec.threshold = eval::best_f1_threshold(vmax, vlabels);
    spec.provenance = {{"run", run.config()},
                       {"epoch", epoch + 1},
                       {"inner_validation",
                        {{"within_source_vertebra_mean_auc", score.score}, {"vertebrae", inner_val_vertebrae}}}};
    save_classifier(net, spec, run.best_folder(), false);
  };
  const ClassifierTrainResult result = run.run(*net, optimizer, plan, stage);
  if (!result.interrupted)
    write_text_atomically(run.folder() / "result.json", nlohmann::json{{"best_val_auc", result.best_score},
                                                                       {"best_epoch", result.best_epoch},
                                                                       {"epochs_done", result.epochs_done},
                                                                       {"stopped_early", result.stopped_early},
                                                                       {"first_loss", result.first_loss},
                                                                       {"last_loss", result.last_loss}}
                                                                .dump(2) + "\n");
  return result;
}

}  // namespace spinescan::classify
