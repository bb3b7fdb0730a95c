// spinescan evaluate detector
#include <iostream>
#include <sstream>

#include "commands.h"
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
}

}  // namespace spinescan::cli
