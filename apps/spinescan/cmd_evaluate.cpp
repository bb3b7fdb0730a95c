// spinescan evaluate detector
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "spinescan/classify/evaluate.h"
#include "spinescan/detect/evaluate.h"

namespace spinescan::cli {

void register_evaluate(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("evaluate", "Measure a model on held-out cases");
  cmd->require_subcommand(1);
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
  det->add_option("--device", c->device, "cpu, cuda or auto");
  det->callback([&run, c, cases] {
    run = [c, cases] {
      std::stringstream in(*cases);
      for (std::string name; std::getline(in, name, ',');)
        if (!name.empty()) c->cases.push_back(name);
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
      std::stringstream in(*k_cases);
      for (std::string name; std::getline(in, name, ',');)
        if (!name.empty()) k->cases.push_back(name);
      const auto text = classify::evaluate_classifier(*k);
      const auto j = nlohmann::json::parse(text);
      auto print = [](const std::string& name, const nlohmann::json& m) {
        char auc[16] = "  -  ";
        if (!m["auc"].is_null()) std::snprintf(auc, sizeof auc, "%.3f", m["auc"].get<double>());
        std::printf("%-24s n=%-5d auc %s  acc %.3f  prec %.3f  recall %.3f  f1 %.3f\n", name.c_str(), m["n"].get<int>(), auc,
                    m["accuracy"].get<double>(), m["precision"].get<double>(), m["recall"].get<double>(), m["f1"].get<double>());
      };
      for (const char* level : {"slice", "vertebra_max", "vertebra_mean"}) print(level, j["classification"][level]);
      for (const auto& [source, levels] : j["by_source"].items())
        for (const char* level : {"slice", "vertebra_max", "vertebra_mean"}) print(source + " " + level, levels[level]);
      std::cout << "written to " << k->out << "/metrics.json\n";
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
