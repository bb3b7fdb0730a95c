// spinescan tune classifier: runs the Optuna driver (scripts/tune_classifier.py) with
// Debian's python3, which holds python3-optuna.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "spinescan/core/errors.h"

namespace spinescan::cli {
namespace {

namespace fs = std::filesystem;

fs::path tuning_script() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) candidates = {exe.parent_path().parent_path() / "scripts", exe.parent_path() / "scripts"};
  candidates.push_back(fs::path(SPINESCAN_SOURCE_DIR) / "scripts");
  for (const auto& dir : candidates)
    if (fs::exists(dir / "tune_classifier.py")) return dir / "tune_classifier.py";
  throw ConfigError("cannot find scripts/tune_classifier.py beside the program or in " SPINESCAN_SOURCE_DIR);
}

}  // namespace

void register_tune(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("tune", "Hyper-parameter studies (Optuna, TPE sampler, SQLite storage)");
  cmd->require_subcommand(1);
  struct Args {
    std::string data, split, out, db, name = "classifier";
    int fold = 0, trials = 20, epochs = 6, samples = 1024, inner_val = 8, max_steps = 0;
    uint64_t seed = 0;
    std::string device = "auto";
  };
  auto a = std::make_shared<Args>();
  auto threads = std::make_shared<int>(0);
  CLI::App* cls = cmd->add_subcommand("classifier", "Tune the classifier; re-running continues the study");
  cls->add_option("--data", a->data, "dataset folder")->required();
  cls->add_option("--split", a->split, "splits.json")->required();
  cls->add_option("--fold", a->fold, "fold whose train cases the trials use (its val cases stay unseen)");
  cls->add_option("--out", a->out, "folder for trial runs, trials.csv and best.json")->required();
  cls->add_option("--study-db", a->db, "SQLite file of the study (created when absent)")->required();
  cls->add_option("--study-name", a->name, "study name within the database");
  cls->add_option("--trials", a->trials, "trials the study should hold in all");
  cls->add_option("--epochs", a->epochs, "epochs per trial");
  cls->add_option("--samples-per-epoch", a->samples, "crops per epoch per trial");
  cls->add_option("--inner-val-cases", a->inner_val, "training cases each trial holds out to measure its AUC");
  cls->add_option("--seed", a->seed, "sampler and training seed");
  cls->add_option("--device", a->device, "cpu, cuda or auto");
  cls->add_option("--max-steps", a->max_steps, "training steps per trial (tests; 0 = no limit)");
  cls->callback([&run, a, threads, &app] {
    *threads = app.get_option("--threads")->as<int>();
    run = [a, threads]() -> int {
      const fs::path script = tuning_script();
      std::error_code ec;
      const std::string binary = fs::read_symlink("/proc/self/exe", ec).string();
      const char* python_env = std::getenv("SPINESCAN_PYTHON");
      // Debian's interpreter: python3-optuna is installed for it, not for other pythons on PATH.
      const std::string python = python_env ? python_env : "/usr/bin/python3";
      std::vector<std::string> args = {python, script.string(), "--binary", binary, "--data", a->data, "--split", a->split,
                                       "--fold", std::to_string(a->fold), "--out", a->out, "--study-db", a->db,
                                       "--study-name", a->name, "--trials", std::to_string(a->trials), "--epochs",
                                       std::to_string(a->epochs), "--samples-per-epoch", std::to_string(a->samples),
                                       "--inner-val-cases", std::to_string(a->inner_val), "--seed", std::to_string(a->seed),
                                       "--threads", std::to_string(*threads), "--device", a->device, "--max-steps",
                                       std::to_string(a->max_steps)};
      std::vector<char*> argv;
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      std::cout.flush();
      ::execv(python.c_str(), argv.data());
      throw ConfigError("cannot run " + python + " (install python3-optuna: scripts/setup.sh)");
    };
  });
}

}  // namespace spinescan::cli
