// spinescan evaluate detector
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "spinescan/classify/evaluate.h"
#include "spinescan/core/errors.h"
#include "spinescan/detect/evaluate.h"
#include "spinescan/pipeline/evaluate.h"

namespace spinescan::cli {

namespace {

// The lines evaluate and evaluate pool share: per source, the scanner-shortcut measure, the
// calibration beside its noise, recall per painted lesion, refusals and withheld verdicts.
void print_verdict_metrics(const nlohmann::json& m) {
  for (const auto& [source, x] : m["by_source"].items()) print_metrics_line(source + " vertebra (final)", x, 30);
  for (const auto& [source, h] : m["healthy_flag_rate_by_source"].items()) print_healthy_flag_line(source + " shortcut", h, 30);
  const auto& calibration = m["calibration"];
  std::printf("%-30s ECE %.3f over %d found vertebrae of known label (calibration.svg); a calibrated model: median %.3f, "
              "95 %% below %.3f\n",
              "calibration", calibration["ece"].get<double>(), calibration["n"].get<int>(),
              calibration["ece_if_calibrated"]["median"].get<double>(), calibration["ece_if_calibrated"]["p95"].get<double>());
  if (m.contains("recall_by_lesion"))
    for (const auto& [group, x] : m["recall_by_lesion"].items())
      std::printf("%-30s recall %.3f (%d of %d painted bodies flagged)\n", ("lesions " + group).c_str(), x["recall"].get<double>(),
                  x["flagged"].get<int>(), x["n"].get<int>());
  for (const auto& r : m["refused"])
    std::printf("refused %s: %s\n", r["case"].get<std::string>().c_str(), r["reason"].get<std::string>().c_str());
  for (const auto& name : m["verdicts_withheld"])
    std::printf("no verdicts for %s: unlike the training data (out-of-distribution check); its bodies count as p 0\n",
                name.get<std::string>().c_str());
}

}  // namespace

void register_evaluate(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Measure a model on held-out cases: the whole pipeline end to end, or one stage (detector, classifier)");
  cmd->require_subcommand(0, 1);
  // Without a sub-command: analyze every case and score detection, levels and classification.
  auto e = std::make_shared<pipeline::PipelineEvalConfig>();
  auto e_cases = std::make_shared<std::string>();
  e->model = default_model_path();
  cmd->add_option("--data", e->data, "dataset folder");
  cmd->add_option("--model", e->model, "model bundle (default: the shipped one)");
  cmd->add_option("--cases", *e_cases, "comma-separated case names");
  cmd->add_option("--split", e->split, "splits.json: evaluate the --fold's val cases");
  cmd->add_option("--fold", e->fold, "fold of --split");
  cmd->add_option("--out", e->out, "output folder (metrics.json, vertebrae.csv, cases.csv, reports/)");
  cmd->add_option("--reports", e->reports, "report folders to write for the first cases");
  cmd->add_option("--device", e->device, "cpu, cuda or auto");
  cmd->callback([&run, cmd, e, e_cases] {
    if (!cmd->get_subcommands().empty()) return;
    run = [e, e_cases] {
      append_comma_list(*e_cases, &e->cases);
      SPINESCAN_CHECK_AS(!e->data.empty() && !e->out.empty(), ConfigError, "evaluate needs --data and --out (or a sub-command: detector, classifier, pool)");
      const auto m = nlohmann::json::parse(pipeline::evaluate_pipeline(*e));
      print_metrics_line("vertebra (final)", m["classification"]["vertebra"], 30);
      print_metrics_line("vertebra (max over slices)", m["classification"]["vertebra_max_over_slices"], 30);
      print_verdict_metrics(m);
      std::printf("levels %.3f (n=%d); vertebrae found %d of %d, extra %d; detection mean IoU %.3f\n",
                  m["levels"]["accuracy"].is_null() ? -1.0 : m["levels"]["accuracy"].get<double>(), m["levels"]["n"].get<int>(),
                  m["vertebrae_3d"]["found"].get<int>(), m["vertebrae_3d"]["truth"].get<int>(), m["vertebrae_3d"]["extra_tracks"].get<int>(),
                  m["detection"]["mean_iou"].get<double>());
      const auto& warned = m["levels"]["count_warning"];
      std::printf("%-30s %d of %d studies warned to count the vertebrae: %d of the %d named wrong, %d of the %d named right\n",
                  "level warning", warned["cases_warned"].get<int>(), m["levels"]["cases"].get<int>(),
                  warned["named_wrong_warned"].get<int>(), warned["named_wrong"].get<int>(), warned["named_right_warned"].get<int>(),
                  m["levels"]["cases_all_right"].get<int>());
      std::cout << "written to " << e->out << "/metrics.json\n";
      return kOk;
    };
  });
  auto p = std::make_shared<pipeline::PoolEvalConfig>();
  CLI::App* pool = cmd->add_subcommand(
      "pool", "Score several evaluations as one (e.g. each fold's held-out cases judged by that fold's bundle), at their shared "
              "threshold or each at its own");
  pool->add_option("runs", p->runs, "folders written by `spinescan evaluate`")->required();
  pool->add_option("--data", p->data, "the painted dataset they were run on (for recall per lesion)");
  pool->add_option("--out", p->out, "output folder (metrics.json, vertebrae.csv, calibration.svg)")->required();
  pool->add_flag("--per-run-thresholds", p->per_run_thresholds,
                 "judge each run's vertebrae at its own bundle's threshold (folds with their own aggregators); the AUC "
                 "and calibration read the pooled probabilities");
  pool->callback([&run, p] {
    run = [p] {
      const auto m = nlohmann::json::parse(pipeline::pool_evaluations(*p));
      if (m["threshold"].is_number())
        std::printf("%zu runs, %zu cases, threshold %.3f\n", m["runs"].size(), m["cases"].size(), m["threshold"].get<double>());
      else
        std::printf("%zu runs, %zu cases, each run at its own threshold\n", m["runs"].size(), m["cases"].size());
      print_metrics_line("vertebra (final)", m["classification"]["vertebra"], 30);
      print_verdict_metrics(m);
      std::printf("vertebrae found %d of %d, extra %d\n", m["vertebrae_3d"]["found"].get<int>(), m["vertebrae_3d"]["truth"].get<int>(),
                  m["vertebrae_3d"]["extra_tracks"].get<int>());
      std::cout << "written to " << p->out << "/metrics.json\n";
      return kOk;
    };
  });
  auto c = std::make_shared<detect::DetectorEvalConfig>();
  auto cases = std::make_shared<std::string>();
  CLI::App* det = cmd->add_subcommand("detector", "Detection metrics (IoU, recall, precision, AP) and overlays");
  det->add_option("--data", c->data, "dataset folder")->required();
  det->add_option("--model", c->model, "model bundle or training run folder")->required();
  det->add_option("--cases", *cases, "comma-separated case names");
  det->add_option("--split", c->split, "splits.json: evaluate the --fold's val cases");
  det->add_option("--fold", c->fold, "fold of --split");
  det->add_option("--out", c->out, "output folder (metrics.json, overlays/)")->required();
  det->add_option("--overlays", c->overlays, "overlay PNGs to write");
  det->add_option("--score", c->operating_score, "operating score threshold (< 0: the model's own)");
  det->add_option("--linked-score", c->linked_score,
                  "keep boxes scoring at least this where a neighbouring slice's reported box overlaps them "
                  "(< 0: the model's own; the operating score: no linking)");
  det->add_option("--device", c->device, "cpu, cuda or auto");
  det->callback([&run, c, cases] {
    run = [c, cases] {
      append_comma_list(*cases, &c->cases);
      std::cout << detect::evaluate_detector(*c);
      return kOk;
    };
  });

  auto k = std::make_shared<classify::ClassifierEvalConfig>();
  auto k_cases = std::make_shared<std::string>();
  CLI::App* cls = cmd->add_subcommand("classifier", "Classification metrics on ground-truth boxes (slice, vertebra max/mean), ROC and calibration plots");
  cls->add_option("--data", k->data, "dataset folder")->required();
  cls->add_option("--model", k->model, "model bundle or training run folder");
  cls->add_option("--cases", *k_cases, "comma-separated case names");
  cls->add_option("--split", k->split, "splits.json: evaluate the --fold's val cases");
  cls->add_option("--fold", k->fold, "fold of --split");
  cls->add_option("--out", k->out, "output folder (metrics.json, predictions.csv, slices.csv, roc.svg, calibration.svg)")->required();
  cls->add_flag("--baseline", k->baseline, "instead of --model: logistic regression on intensity statistics, fitted on the fold's train cases");
  cls->add_option("--device", k->device, "cpu, cuda or auto");
  cls->callback([&run, k, k_cases] {
    run = [k, k_cases] {
      append_comma_list(*k_cases, &k->cases);
      const auto text = classify::evaluate_classifier(*k);
      const auto j = nlohmann::json::parse(text);
      auto print = [](const std::string& name, const nlohmann::json& m) { print_metrics_line(name, m); };
      for (const char* level : {"slice", "vertebra_max", "vertebra_mean"}) print(level, j["classification"][level]);
      for (const auto& [source, levels] : j["by_source"].items())
        for (const char* level : {"slice", "vertebra_max", "vertebra_mean"}) print(source + " " + level, levels[level]);
      std::cout << "written to " << k->out << "/metrics.json\n";
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
