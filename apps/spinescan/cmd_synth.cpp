// spinescan synth: a phantom dataset in our format; `synth off-target`: studies analyze must refuse.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/off_target.h"
#include "spinescan/data/phantom.h"

namespace spinescan::cli {

void register_synth(CLI::App& app, Runner& run) {
  struct Args {
    std::string out;
    int cases = 8;
    uint64_t seed = 1;
    bool overwrite = false;
    bool fixed_orientation = false;
    PhantomOptions phantom;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a phantom dataset (synthetic sagittal lumbar MRI with labels)");
  cmd->add_option("--out", args->out, "dataset folder to create");
  cmd->add_option("--cases", args->cases, "number of cases")->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->seed, "random seed (same seed, same bytes)");
  cmd->add_option("--min-bodies", args->phantom.min_bodies, "fewest labelled bodies (S1 upwards)");
  cmd->add_option("--max-bodies", args->phantom.max_bodies, "most labelled bodies");
  cmd->add_option("--pathology-probability", args->phantom.pathology_probability, "chance that a body is pathological");
  cmd->add_option("--min-inplane-spacing", args->phantom.min_inplane_spacing_mm, "mm");
  cmd->add_option("--max-inplane-spacing", args->phantom.max_inplane_spacing_mm, "mm");
  cmd->add_option("--min-slice-spacing", args->phantom.min_slice_spacing_mm, "mm");
  cmd->add_option("--max-slice-spacing", args->phantom.max_slice_spacing_mm, "mm");
  cmd->add_flag("--fixed-orientation", args->fixed_orientation, "store every case in the canonical orientation");
  cmd->add_flag("--overwrite", args->overwrite, "replace an existing output folder");
  cmd->callback([&run, cmd, args] {
    if (!cmd->get_subcommands().empty()) return;
    run = [args] {
      SPINESCAN_CHECK_AS(!args->out.empty(), ConfigError, "synth needs --out");
      args->phantom.random_direction = !args->fixed_orientation;
      Progress progress("synth", args->cases, "cases");
      write_phantom_dataset(args->out, args->cases, args->seed, args->phantom, args->overwrite,
                            [&](int done, int) { progress.update(done); });
      progress.finish();
      log_info("wrote " + std::to_string(args->cases) + " phantom cases to " + args->out);
      return kOk;
    };
  });

  struct OffTargetArgs {
    std::string out;
    uint64_t seed = 1;
    bool overwrite = false;
  };
  auto ot = std::make_shared<OffTargetArgs>();
  CLI::App* off = cmd->add_subcommand("off-target",
                                      "Write studies that analyze must refuse (other planes, thick slices, small fields, noise, "
                                      "shapes that are no spine, truncated files), made from a phantom; index in off_target.csv");
  off->add_option("--out", ot->out, "folder to create")->required();
  off->add_option("--seed", ot->seed, "random seed (same seed, same bytes)");
  off->add_flag("--overwrite", ot->overwrite, "replace an existing output folder");
  off->callback([&run, ot] {
    run = [ot] {
      const auto cases = write_off_target_set(ot->out, ot->seed, ot->overwrite);
      for (const auto& c : cases) std::printf("%-30s %-8s %s\n", c.file.c_str(), c.refusal.c_str(), c.what.c_str());
      log_info("wrote " + std::to_string(cases.size()) + " off-target studies to " + ot->out);
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
