// spinescan synth: a phantom dataset in our format; `synth off-target`: studies analyze must refuse;
// `synth lesions`: the paper's pathologies painted into a real dataset; `synth render-lesions`: before and after.
#include <cstdio>
#include <iostream>
#include <map>

#include "commands.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/progress.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/lesions.h"
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

  struct LesionArgs {
    std::string data, out, findings;
    uint64_t seed = 1;
    bool overwrite = false;
    LesionOptions options;
  };
  auto ls = std::make_shared<LesionArgs>();
  CLI::App* les = cmd->add_subcommand(
      "lesions",
      "Paint simulated spondylodiscitis, metastases, fractures and diffuse infiltration into the real vertebral bodies "
      "of a dataset and write a new dataset (painted bodies pathological=1, findings=<lesion>; lesions.csv lists "
      "every lesion's parameters). Simulations, not clinical findings: docs/lesions.md");
  les->add_option("--data", ls->data, "source dataset folder")->required();
  les->add_option("--out", ls->out, "dataset folder to create")->required();
  les->add_option("--seed", ls->seed, "random seed (same seed, same bytes)");
  les->add_option("--fraction", ls->options.fraction, "expected share of each case's bodies painted");
  les->add_option("--family", ls->options.family, "lesion model family: a, b or all (drawn per lesion)");
  les->add_option("--findings", ls->findings,
                  "comma-separated subset of spondylodiscitis,metastasis,fracture,diffuse_infiltration (default all)");
  les->add_option("--subtle-fraction", ls->options.subtle_fraction, "share of lesions drawn small and faint");
  les->add_option("--source-labels", ls->options.source_labels,
                  "unpainted bodies: unknown (a source label 1 becomes unknown), keep, or healthy (all 0)");
  les->add_option("--cases", ls->options.cases, "comma-separated case names to paint and write (default every case)")
      ->delimiter(',');
  les->add_flag("--overwrite", ls->overwrite, "replace an existing output folder");
  les->callback([&run, ls] {
    run = [ls] {
      if (!ls->findings.empty()) {
        ls->options.findings.clear();
        std::string item;
        for (size_t i = 0; i <= ls->findings.size(); ++i) {
          if (i == ls->findings.size() || ls->findings[i] == ',') {
            if (!item.empty()) ls->options.findings.push_back(item);
            item.clear();
          } else {
            item += ls->findings[i];
          }
        }
      }
      ls->options.validate();
      Progress progress("synth lesions", static_cast<int64_t>(load_dataset(ls->data).cases.size()), "cases");
      const auto summary = write_lesion_dataset(ls->data, ls->out, ls->seed, ls->options, ls->overwrite,
                                                [&](size_t done, size_t) { progress.update(done); });
      progress.finish();
      std::map<std::string, int> by_finding;
      for (const auto& [name, lesion] : summary.lesions) ++by_finding[lesion.finding];
      for (const auto& [finding, n] : by_finding) std::printf("%-22s %d\n", finding.c_str(), n);
      log_info("painted " + std::to_string(summary.painted_bodies) + " of " + std::to_string(summary.bodies) +
               " bodies in " + std::to_string(summary.cases) + " cases; wrote " + ls->out);
      return kOk;
    };
  });

  struct RenderArgs {
    std::string original, painted, out;
    size_t max_pictures = 0;
  };
  auto rl = std::make_shared<RenderArgs>();
  CLI::App* ren = cmd->add_subcommand("render-lesions",
                                      "Before-and-after PNGs of each painted lesion: the body's central slice from the "
                                      "source dataset and from the painted one, side by side in one intensity scale");
  ren->add_option("--original", rl->original, "the source dataset")->required();
  ren->add_option("--painted", rl->painted, "the dataset written by synth lesions")->required();
  ren->add_option("--out", rl->out, "folder for the PNGs")->required();
  ren->add_option("--max", rl->max_pictures, "at most this many pictures (0 = all)");
  ren->callback([&run, rl] {
    run = [rl] {
      const size_t n = render_lesions(rl->original, rl->painted, rl->out, rl->max_pictures);
      log_info("wrote " + std::to_string(n) + " before/after pictures to " + rl->out);
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
