// spinescan train detector
#include <fstream>
#include <iostream>
#include <map>

#include <cstdio>
#include <sstream>

#include "commands.h"
#include "spinescan/pipeline/train_aggregator.h"
#include "spinescan/levels/train_levels.h"
#include "spinescan/pipeline/train_ood.h"
#include "spinescan/core/logging.h"
#include "spinescan/classify/train.h"
#include "spinescan/core/errors.h"
#include "spinescan/detect/train.h"

namespace spinescan::cli {

void register_train(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model stage");
  cmd->require_subcommand(1);
  auto c = std::make_shared<detect::DetectorTrainConfig>();
  CLI::App* det = cmd->add_subcommand("detector", "Train the vertebral-body detector (RetinaNet, ResNet-18 + FPN)");
  det->add_option("--data", c->data, "dataset folder")->required();
  det->add_option("--split", c->split, "splits.json (spinescan dataset split)")->required();
  det->add_option("--fold", c->fold, "fold whose train cases are used; its val cases stay unseen");
  det->add_option("--out", c->out, "run folder")->required();
  det->add_option("--epochs", c->epochs, "epochs");
  det->add_option("--batch", c->batch, "slices per step");
  det->add_option("--samples-per-epoch", c->samples_per_epoch, "slices drawn per epoch");
  det->add_option("--lr", c->lr, "peak learning rate (AdamW; warm-up then cosine)");
  det->add_option("--weight-decay", c->weight_decay, "AdamW weight decay");
  det->add_option("--warmup-steps", c->warmup_steps, "linear warm-up steps");
  det->add_option("--empty-fraction", c->empty_fraction, "share of drawn slices without a body");
  det->add_option("--side-fraction", c->side_fraction,
                  "share of the other draws taken from slices cutting the side of a body (0 = no preference)");
  det->add_option("--inner-val-cases", c->inner_val_cases, "training cases held out to choose the best epoch");
  det->add_option("--size", c->canvas_size, "canvas size in pixels (multiple of 32)");
  det->add_option("--pixel-mm", c->pixel_mm, "canvas pixel size in mm");
  det->add_option("--context-mm", c->context_mm,
                  "sagittal context: also read the slices this many mm to each side (3 input channels; 0 = one slice)");
  det->add_option("--box-loss", c->box_loss, "smooth_l1, l1 or giou");
  det->add_option("--augment", c->augment, "augmentation strength (0 = none)");
  det->add_option("--augment-preset", c->augment_preset,
                  "scanner (other scanners and protocols: blur, low resolution, thick slices, crops, ...) or basic")
      ->capture_default_str();
  det->add_option("--seed", c->seed, "random seed");
  det->add_option("--device", c->device, "cpu, cuda or auto");
  det->add_flag("--resume", c->resume, "continue the run in --out from its last checkpoint");
  det->add_option("--max-steps", c->max_steps, "stop after this many steps (0 = no limit)");
  det->add_option("--width-divisor", c->width_divisor, "divide ResNet widths (smaller nets for tests)");
  det->add_option("--fpn-channels", c->fpn_channels, "FPN and head width");
  det->add_option("--head-convs", c->head_convs, "convolutions per head tower");
  det->add_option("--anchor-scales", c->anchor_scales,
                  "anchor scales per location, comma-separated (default 1,1.26,1.59: 2^0, 2^1/3, 2^2/3 of each level's size)")
      ->delimiter(',');
  det->add_option("--distill-from", c->distill_from,
                  "a trained detector (bundle or run folder, same canvas and anchors) whose outputs the net also learns");
  det->add_option("--distill-weight", c->distill_weight, "weight of the distillation terms beside the detection loss");
  det->callback([&run, c] {
    run = [c] {
      const auto r = detect::train_detector(*c);
      std::cout << "epochs " << r.epochs_done << ", loss " << r.first_loss << " -> " << r.last_loss
                << ", best inner-val mean IoU " << r.best_score << " (epoch " << r.best_epoch << ")\n";
      return r.interrupted ? kInterrupted : kOk;
    };
  });

  auto k = std::make_shared<classify::ClassifierTrainConfig>();
  auto params_file = std::make_shared<std::string>();
  // Options that a --params file may also set, by its key: a flag given on the command line wins.
  auto tunable = std::make_shared<std::map<std::string, CLI::Option*>>();
  CLI::App* cls = cmd->add_subcommand("classifier", "Train the vertebra classifier (ConvNeXt on body crops)");
  cls->add_option("--data", k->data, "dataset folder")->required();
  cls->add_option("--extra-data", k->extra_data,
                  "comma-separated other paintings of --data's cases (synth lesions, other seeds): their training "
                  "cases are trained on too; inner validation stays on --data")
      ->delimiter(',');
  cls->add_option("--split", k->split, "splits.json (spinescan dataset split)")->required();
  cls->add_option("--fold", k->fold, "fold whose train cases are used; its val cases stay unseen");
  cls->add_option("--out", k->out, "run folder")->required();
  cls->add_option("--params", *params_file, "JSON of hyper-parameters (e.g. best.json of `spinescan tune classifier`)");
  (*tunable)["epochs"] = cls->add_option("--epochs", k->epochs, "epochs");
  (*tunable)["batch"] = cls->add_option("--batch", k->batch, "crops per step");
  (*tunable)["samples_per_epoch"] = cls->add_option("--samples-per-epoch", k->samples_per_epoch, "crops drawn per epoch");
  (*tunable)["lr"] = cls->add_option("--lr", k->lr, "peak learning rate (AdamW; warm-up then cosine)");
  (*tunable)["weight_decay"] = cls->add_option("--weight-decay", k->weight_decay, "AdamW weight decay");
  (*tunable)["warmup_fraction"] = cls->add_option("--warmup-fraction", k->warmup_fraction, "share of steps for linear warm-up");
  (*tunable)["preset"] = cls->add_option("--preset", k->preset, "ConvNeXt size: micro, mini, atto, femto, pico, nano, tiny");
  (*tunable)["crop_size"] = cls->add_option("--crop-size", k->crop_size, "crop pixels per side (multiple of 32)");
  (*tunable)["context"] = cls->add_option("--context", k->context, "margin around the box on each side, as a share of its larger side");
  (*tunable)["neighbours"] = cls->add_option("--neighbours", k->neighbours, "neighbouring slices on each side as extra channels (2.5D)");
  (*tunable)["augment"] = cls->add_option("--augment", k->augment, "augmentation strength (0 = none)");
  (*tunable)["drop_path"] = cls->add_option("--drop-path", k->drop_path, "stochastic depth rate");
  (*tunable)["layer_scale"] = cls->add_option("--layer-scale", k->layer_scale, "initial layer scale of the ConvNeXt blocks");
  (*tunable)["balance"] = cls->add_option("--balance", k->balance,
                                          "class (50/50 over all vertebrae) or within-source (50/50 inside each "
                                          "source holding both classes; single-class sources left out)");
  (*tunable)["balance_findings"] = cls->add_flag("--balance-findings", k->balance_findings,
                                                "spread the pathological draws evenly over findings (vertebrae.csv "
                                                "`findings`), so a rare or focal finding is taught as often as a common one");
  (*tunable)["max_pool_stage"] = cls->add_option("--max-pool-stage", k->max_pool_stage,
                                                 "the head also reads each channel's maximum over this ConvNeXt stage's map "
                                                 "(0..3, stride 4..32; -1 = average of the last stage only), so a small "
                                                 "focus can decide the verdict");
  cls->add_option("--unpainted-data", k->unpainted_data,
                  "the dataset --data was painted from (synth lesions --data): with --pair-weight, each painted crop's "
                  "unpainted twin (same box and augmentation) must score lower");
  (*tunable)["pair_weight"] = cls->add_option("--pair-weight", k->pair_weight,
                                              "weight of the paired term softplus(logit unpainted - logit painted) "
                                              "(0 = off; needs --unpainted-data)");
  (*tunable)["patience"] = cls->add_option("--patience", k->patience, "epochs without a better inner-val AUC before stopping");
  cls->add_option("--inner-val-cases", k->inner_val_cases, "training cases held out for early stopping and calibration");
  (*tunable)["inner_val_all_paintings"] =
      cls->add_flag("--inner-val-all-paintings", k->inner_val_all_paintings,
                    "early stopping, calibration and threshold also read the --extra-data paintings' copies of the "
                    "inner-validation cases (more lesions per case; never trained on)");
  cls->add_option("--seed", k->seed, "random seed");
  cls->add_option("--device", k->device, "cpu, cuda or auto");
  cls->add_flag("--resume", k->resume, "continue the run in --out from its last checkpoint");
  cls->add_option("--max-steps", k->max_steps, "stop after this many steps (0 = no limit)");
  cls->callback([&run, k, params_file, tunable] {
    run = [k, params_file, tunable] {
      if (!params_file->empty()) {
        std::ifstream in(*params_file);
        SPINESCAN_CHECK_AS(in, ConfigError, *params_file, ": cannot open");
        nlohmann::json params;
        try {
          params = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
          throw ConfigError(*params_file + ": invalid JSON: " + e.what());
        }
        // best.json of a study holds {"params": {...}, ...}; a bare object works too.
        if (params.contains("params")) params = params["params"];
        std::set<std::string> given;
        for (const auto& [key, option] : *tunable)
          if (option->count()) given.insert(key);
        classify::apply_params(*k, params, given);
      }
      const auto r = classify::train_classifier(*k);
      std::cout << "epochs " << r.epochs_done << ", loss " << r.first_loss << " -> " << r.last_loss
                << ", best inner-val vertebra AUC " << r.best_score << " (epoch " << r.best_epoch << ")"
                << (r.stopped_early ? ", stopped early" : "") << "\n";
      return r.interrupted ? kInterrupted : kOk;
    };
  });

  auto g = std::make_shared<pipeline::AggregatorTrainConfig>();
  auto runs = std::make_shared<std::string>();
  auto detectors = std::make_shared<std::string>();
  g->model = default_model_path();
  CLI::App* agg = cmd->add_subcommand("aggregator", "Train the per-vertebra boosted-tree aggregator on out-of-fold classifier outputs");
  agg->add_option("--data", g->data, "dataset folder")->required();
  agg->add_option("--extra-data", g->extra_data,
                  "comma-separated other paintings of --data's cases (synth lesions, other seeds): their out-of-fold "
                  "records train the trees and set the thresholds too; the numbers reported stay on --data's")
      ->delimiter(',');
  agg->add_option("--split", g->split, "splits.json (spinescan dataset split)")->required();
  agg->add_option("--fold", g->fold, "fold whose train cases fit the aggregator; its val cases stay held out");
  agg->add_option("--classifiers", *runs, "comma-separated classifier runs, one per fold in fold order (run j never saw fold j)")->required();
  agg->add_option("--model", g->model, "bundle whose detector finds the vertebrae (unless --detectors)");
  agg->add_option("--detectors", *detectors,
                  "comma-separated detector runs or bundles, one per fold in fold order (run j never saw fold j); "
                  "default: the --model bundle's detector on every fold");
  agg->add_option("--out", g->out, "run folder (records.jsonl, aggregator.json, aggregator_spec.json, metrics.json)")->required();
  agg->add_option("--rounds", g->booster.rounds, "boosting rounds");
  agg->add_option("--max-depth", g->booster.max_depth, "tree depth");
  agg->add_option("--eta", g->booster.eta, "learning rate");
  agg->add_option("--seed", g->booster.seed, "random seed (row and column subsampling)");
  agg->add_option("--monotone-evidence", g->monotone_evidence,
                  "trees may only raise p with the slice probabilities (max, mean, top-2 mean; true/false)");
  agg->add_option("--threshold-rule", g->threshold_rule,
                  "half-best-f1 (half the inner-CV best F1: the optimum for calibrated probabilities) or best-f1 "
                  "(the score where the inner-CV F1 peaked)");
  agg->add_option("--max-healthy-flag-rate", g->max_healthy_flag_rate,
                  "raise the threshold until at most this share of each source's healthy-labelled vertebrae is flagged "
                  "(training folds, out of fold); 1: no bound")
      ->check(CLI::Range(0.0, 1.0));
  agg->add_option("--balance", g->balance,
                  "within-source (rows weighted so every source shows the label at the same rate; the trees cannot "
                  "learn a scanner) or class (every row counts once)");
  auto dropped = std::make_shared<std::string>();
  agg->add_option("--drop-features", *dropped,
                  "comma-separated features the trees do not see (to measure what a feature adds; docs/analyze.md)");
  agg->add_option("--device", g->device, "cpu, cuda or auto");
  agg->callback([&run, g, runs, detectors, dropped] {
    run = [g, runs, detectors, dropped] {
      append_comma_list(*runs, &g->classifier_runs);
      append_comma_list(*detectors, &g->detector_runs);
      append_comma_list(*dropped, &g->drop_features);
      const auto m = nlohmann::json::parse(pipeline::train_aggregator(*g));
      for (const char* set : {"heldout_fold", "all_folds"}) {
        print_metrics_line(std::string(set) + " aggregator", m[set]["aggregator"], 34);
        print_metrics_line(std::string(set) + " max over slices", m[set]["max_over_slices"], 34);
        if (m[set].contains("levels"))  // named by the bundle's level model, when it has one
          std::printf("%-34s %.3f (n=%d)\n", (std::string(set) + " level accuracy").c_str(),
                      m[set]["levels"]["accuracy"].is_null() ? -1.0 : m[set]["levels"]["accuracy"].get<double>(),
                      m[set]["levels"]["n"].get<int>());
      }
      for (const auto& [source, x] : m["by_source_all_folds"].items())
        print_healthy_flag_line("all_folds " + source + " shortcut", x["healthy_flag_rate"], 34);
      std::cout << "wrote " << g->out << "/aggregator.json and metrics.json\n";
      return kOk;
    };
  });

  auto lv = std::make_shared<levels::LevelTrainConfig>();
  lv->model = default_model_path();
  CLI::App* levels = cmd->add_subcommand(
      "levels", "Re-learn a bundle's level model (is the lowest body found L5 or S1?) from the ground truth of a fold's training cases");
  levels->add_option("--data", lv->data, "dataset folder")->required();
  levels->add_option("--split", lv->split, "splits.json (spinescan dataset split)")->required();
  levels->add_option("--fold", lv->fold, "fold whose train cases teach the rule; its val cases are held out");
  levels->add_option("--model", lv->model, "bundle whose detector finds the vertebrae and whose level model is compared");
  levels->add_option("--out", lv->out, "run folder (levels.json, metrics.json)")->required();
  levels->add_option("--below-rate", lv->below_rate,
                     "prior of the level head: how often the detector boxes the body below the lowest labelled one on new "
                     "studies (default: 6 of 47, measured with out-of-fold detectors on SPIDER, docs/analyze.md; with --detectors "
                     "the records' own rate when they show it at least 3 times)");
  auto level_detectors = std::make_shared<std::string>();
  levels->add_option("--detectors", *level_detectors,
                     "comma-separated detector runs (or bundles), one per fold in fold order, run j not trained on fold j: "
                     "each case is read by a detector that never saw it, and the head also learns from the detector's scores");
  levels->add_option("--records-cache", lv->records_cache, "folder for cached per-case records (default: --out); share it between folds");
  levels->add_option("--device", lv->device, "cpu, cuda or auto");
  levels->add_option("--level-net-steps", lv->level_net_steps, "train the level net (a ConvNeXt telling L5 from S1 by the picture) for this many steps (a multiple of 50 above 50: a checkpoint every 50); 0: none, the image head only (the shipped model: 300, about 2.5 min on 2 cores)");
  levels->add_option("--seed", lv->seed, "seed of the level net's training");
  levels->add_flag("--resume", lv->resume, "continue the level net's run in --out/level_net_run from its last checkpoint");
  levels->callback([&run, lv, level_detectors] {
    run = [lv, level_detectors] {
      append_comma_list(*level_detectors, &lv->detector_runs);
      const auto m = nlohmann::json::parse(levels::train_levels(*lv));
      for (const char* set : {"heldout_fold", "training_cases"})
        for (const char* which : {"levels", "bundle_levels"}) {
          if (!m[set].contains(which)) continue;  // a bundle without a level model has nothing to compare
          const auto& a = m[set][which];
          std::printf("%-14s %-14s level accuracy %s (n=%d), cases all right %d of %d\n", set,
                      std::string(which) == "levels" ? "new model" : "bundle's", a["accuracy"].is_null() ? "-" : std::to_string(a["accuracy"].get<double>()).substr(0, 5).c_str(),
                      a["n"].get<int>(), a["cases_all_right"].get<int>(), a["cases"].get<int>());
        }
      std::cout << "level model: " << m["levels_model"].dump() << "\n";
      std::cout << "wrote " << lv->out << "/levels.json and metrics.json\n";
      return kOk;
    };
  });

  auto od = std::make_shared<pipeline::OodTrainConfig>();
  od->model = default_model_path();
  CLI::App* ood = cmd->add_subcommand(
      "ood", "Fit a bundle's out-of-distribution reference (studies scoring above it get no verdicts) on a fold's training "
             "cases, and score every case of the dataset against it");
  ood->add_option("--data", od->data, "dataset folder")->required();
  ood->add_option("--split", od->split, "splits.json (spinescan dataset split)")->required();
  ood->add_option("--fold", od->fold, "fold whose train cases make the reference; its val cases are scored as held out");
  ood->add_option("--model", od->model, "bundle whose detector, classifier and features read the studies");
  ood->add_option("--out", od->out, "run folder (ood.json, metrics.json)")->required();
  auto ood_sources = std::make_shared<std::string>();
  ood->add_option("--sources", *ood_sources,
                  "comma-separated sources (case name up to the first '_', e.g. spider) to fit on; default all. The others "
                  "show whether an unseen source scores as unfamiliar");
  ood->add_option("--margin", od->margin, "threshold = margin x the highest score of a fitted training study");
  ood->add_option("--device", od->device, "cpu, cuda or auto");
  ood->callback([&run, od, ood_sources] {
    run = [od, ood_sources] {
      append_comma_list(*ood_sources, &od->sources);
      const auto m = nlohmann::json::parse(pipeline::train_ood(*od));
      std::printf("threshold %.3f (fitted on %zu studies)\n", m["threshold"].get<double>(), m["fitted_cases"].size());
      for (const auto& [key, x] : m["above_threshold_by_set_and_source"].items())
        std::printf("%-34s %d of %d studies above the threshold\n", key.c_str(), x["above_threshold"].get<int>(), x["cases"].get<int>());
      std::cout << "wrote " << od->out << "/ood.json and metrics.json\n";
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
