// spinescan model add-*|upgrade|show: building, upgrading and inspecting model bundles.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/pipeline/analyze.h"
#include "spinescan/classify/bundle.h"
#include "spinescan/detect/bundle.h"
#include "spinescan/pipeline/train_aggregator.h"
#include "spinescan/levels/train_levels.h"
#include "spinescan/pipeline/train_ood.h"

namespace spinescan::cli {

void register_model(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("model", "Build and inspect model bundles");
  cmd->require_subcommand(1);
  struct AddArgs {
    std::string run, bundle = "models/default", metrics;
    double linked_score = -1;
  };
  auto a = std::make_shared<AddArgs>();
  CLI::App* add = cmd->add_subcommand("add-detector", "Put a trained detector into a bundle (half precision)");
  add->add_option("run", a->run, "training run folder or bundle holding the detector")->required();
  add->add_option("--bundle", a->bundle, "bundle folder to write into");
  add->add_option("--metrics", a->metrics, "metrics.json of `spinescan evaluate detector` on held-out cases");
  add->add_option("--linked-score", a->linked_score,
                  "keep boxes scoring at least this where a neighbouring slice's reported box overlaps them "
                  "(default: the detector's own setting)");
  add->callback([&run, a] {
    run = [a] {
      const auto bytes = detect::add_detector_to_bundle(a->run, a->bundle, a->metrics, a->linked_score);
      std::cout << "wrote " << a->bundle << "/detector.pt (" << bytes / (1024.0 * 1024.0) << " MiB) and manifest.json\n";
      return kOk;
    };
  });
  struct AddClassifierArgs {
    std::string run, bundle = "models/default", metrics, study_best;
  };
  auto ac = std::make_shared<AddClassifierArgs>();
  CLI::App* add_cls = cmd->add_subcommand("add-classifier", "Put a trained classifier into a bundle (half precision)");
  add_cls->add_option("run", ac->run, "training run folder or bundle holding the classifier")->required();
  add_cls->add_option("--bundle", ac->bundle, "bundle folder to write into");
  add_cls->add_option("--metrics", ac->metrics, "metrics.json of `spinescan evaluate classifier` on held-out cases");
  add_cls->add_option("--study", ac->study_best, "best.json of the `spinescan tune classifier` study that chose its parameters");
  add_cls->callback([&run, ac] {
    run = [ac] {
      const auto bytes = classify::add_classifier_to_bundle(ac->run, ac->bundle, ac->metrics, ac->study_best);
      std::cout << "wrote " << ac->bundle << "/classifier.pt (" << bytes / (1024.0 * 1024.0) << " MiB) and manifest.json\n";
      return kOk;
    };
  });
  auto show_path = std::make_shared<std::string>("models/default");
  auto ag = std::make_shared<AddArgs>();
  CLI::App* add_agg = cmd->add_subcommand("add-aggregator", "Put a trained aggregator (boosted trees) into a bundle; its level model stays");
  add_agg->add_option("run", ag->run, "run folder of `spinescan train aggregator`")->required();
  add_agg->add_option("--bundle", ag->bundle, "bundle folder to write into");
  add_agg->callback([&run, ag] {
    run = [ag] {
      const auto bytes = pipeline::add_aggregator_to_bundle(ag->run, ag->bundle);
      std::cout << "wrote " << ag->bundle << "/aggregator.json (" << bytes / 1024.0 << " KiB) and manifest.json\n";
      return kOk;
    };
  });

  auto al = std::make_shared<AddArgs>();
  CLI::App* add_levels = cmd->add_subcommand("add-levels", "Put a level model (`spinescan train levels`) into a bundle");
  add_levels->add_option("run", al->run, "run folder of `spinescan train levels`")->required();
  add_levels->add_option("--bundle", al->bundle, "bundle folder to write into");
  add_levels->callback([&run, al] {
    run = [al] {
      levels::add_levels_to_bundle(al->run, al->bundle);
      std::cout << "wrote the level model into " << al->bundle << "/manifest.json\n";
      return kOk;
    };
  });

  auto ao = std::make_shared<AddArgs>();
  CLI::App* add_ood = cmd->add_subcommand("add-ood", "Put an out-of-distribution reference (`spinescan train ood`) into a bundle");
  add_ood->add_option("run", ao->run, "run folder of `spinescan train ood`")->required();
  add_ood->add_option("--bundle", ao->bundle, "bundle folder to write into");
  add_ood->callback([&run, ao] {
    run = [ao] {
      pipeline::add_ood_to_bundle(ao->run, ao->bundle);
      std::cout << "wrote the out-of-distribution reference into " << ao->bundle << "/manifest.json\n";
      return kOk;
    };
  });

  struct CalibrateArgs {
    std::string bundle = "models/default", data, cases;
  };
  auto ci = std::make_shared<CalibrateArgs>();
  CLI::App* calibrate = cmd->add_subcommand(
      "calibrate-int8", "Record the detector's 8-bit ranges on training cases and store them in the bundle (--detector-precision int8)");
  calibrate->add_option("--bundle", ci->bundle, "bundle folder (or training run) whose detector to calibrate");
  calibrate->add_option("--data", ci->data, "dataset folder")->required();
  calibrate->add_option("--cases", ci->cases, "comma-separated cases the detector was trained on; evaluate refuses to score them in int8")
      ->required();
  calibrate->callback([&run, ci] {
    run = [ci] {
      std::vector<std::string> cases;
      append_comma_list(ci->cases, &cases);
      const auto c = detect::calibrate_detector_int8(ci->bundle, ci->data, cases);
      std::cout << "recorded " << c.points << " ranges over " << c.slices << " slices of " << cases.size() << " cases into "
                << "the manifest of " << ci->bundle << "\n";
      return kOk;
    };
  });

  auto upgrade_path = std::make_shared<std::string>();
  CLI::App* upgrade = cmd->add_subcommand("upgrade", "Rewrite an older bundle's manifest.json in this version's layout");
  upgrade->add_option("bundle", *upgrade_path, "bundle folder")->required();
  upgrade->callback([&run, upgrade_path] {
    run = [upgrade_path] {
      const std::filesystem::path folder = *upgrade_path;
      const pipeline::ManifestUpgrade up = pipeline::upgrade_manifest(read_manifest(folder));
      if (up.changes.empty()) {
        std::cout << folder.string() << "/manifest.json is already version " << kManifestVersion << "\n";
        return kOk;
      }
      pipeline::check_bundle_manifest(up.manifest);  // the result must load, or nothing is written
      write_text_atomically(folder / "manifest.json", up.manifest.dump(2) + "\n");
      for (const auto& line : up.changes) std::cout << line << "\n";
      std::cout << "wrote " << folder.string() << "/manifest.json\n";
      return kOk;
    };
  });

  CLI::App* show = cmd->add_subcommand("show", "Print a bundle's manifest");
  show->add_option("bundle", *show_path, "bundle folder");
  show->callback([&run, show_path] {
    run = [show_path] {
      std::ifstream in(std::filesystem::path(*show_path) / "manifest.json");
      SPINESCAN_CHECK_AS(in, ModelError, *show_path, ": no manifest.json");
      std::cout << nlohmann::json::parse(in).dump(2) << "\n";
      return kOk;
    };
  });
}

}  // namespace spinescan::cli
