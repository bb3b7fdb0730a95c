// spinescan dataset check|stats|split
#include <iostream>

#include "commands.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/splits.h"

namespace spinescan::cli {

void register_dataset(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("dataset", "Validate, summarise and split a dataset");
  cmd->require_subcommand(1);

  auto check_dir = std::make_shared<std::string>();
  CLI::App* check = cmd->add_subcommand("check", "Validate a dataset; one line per problem, exit 1 when any");
  check->add_option("dir", *check_dir, "dataset folder")->required();
  check->callback([&run, check_dir] {
    run = [check_dir] {
      const Dataset d = load_dataset(*check_dir);
      Progress progress("check", static_cast<int64_t>(d.cases.size()), "cases");
      const auto problems = check_dataset(d, [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
      progress.finish();
      for (const auto& p : problems) std::cout << (p.case_name.empty() ? "dataset" : p.case_name) << ": " << p.message << "\n";
      std::cout << d.cases.size() << " cases, " << d.vertebrae.size() << " vertebrae, " << problems.size() << " problem(s)\n";
      return problems.empty() ? kOk : kDataProblem;
    };
  });

  auto stats_dir = std::make_shared<std::string>();
  CLI::App* stats = cmd->add_subcommand("stats", "Counts, slices, spacing and body-box sizes of a dataset");
  stats->add_option("dir", *stats_dir, "dataset folder")->required();
  stats->callback([&run, stats_dir] {
    run = [stats_dir] {
      const Dataset d = load_dataset(*stats_dir);
      Progress progress("stats", static_cast<int64_t>(d.cases.size()), "cases");
      const auto s = compute_stats(d, [&](size_t done, size_t) { progress.update(static_cast<int64_t>(done)); });
      progress.finish();
      std::cout << format_stats(s);
      return kOk;
    };
  });

  struct SplitArgs {
    std::string dir, out = "splits.json";
    int folds = 5;
    uint64_t seed = 0;
    bool by_source = false;
  };
  auto split_args = std::make_shared<SplitArgs>();
  CLI::App* split = cmd->add_subcommand("split", "Case-level folds, stratified by having a pathological body");
  split->add_option("dir", split_args->dir, "dataset folder")->required();
  split->add_option("--folds", split_args->folds, "number of folds");
  split->add_option("--seed", split_args->seed, "random seed");
  split->add_option("--out", split_args->out, "splits file to write");
  split->add_flag("--by-source", split_args->by_source,
                  "leave one source out: one fold per source (the case name up to its first '_'), instead of --folds");
  split->callback([&run, split_args] {
    run = [split_args] {
      const Dataset d = load_dataset(split_args->dir);
      std::vector<std::string> names;
      std::vector<bool> positive;
      for (const auto& c : d.cases) {
        names.push_back(c.name);
        positive.push_back(d.has_pathological(c.name));
      }
      std::vector<std::string> sources;
      for (const auto& name : names) sources.push_back(case_source(name));
      const Splits s = split_args->by_source ? make_source_splits(names, sources)
                                             : make_splits(names, positive, split_args->folds, split_args->seed);
      write_text_atomically(split_args->out, s.to_json().dump(2) + "\n");
      for (size_t k = 0; k < s.folds.size(); ++k) {
        size_t pos = 0;
        for (const auto& c : s.folds[k].val) pos += d.has_pathological(c);
        std::cout << "fold " << k << ": " << s.folds[k].val.size() << " validation cases (" << pos
                  << " with a pathological body), " << s.folds[k].train.size() << " training cases\n";
      }
      log_info("wrote " + split_args->out);
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
