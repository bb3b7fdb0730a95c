// check_bundle_manifest: every stage of a bundle's manifest is parsed and its file names checked
// before any weights are read, and a broken field is a ModelError naming it (issue 20, §5).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "spinescan/core/errors.h"
#include "spinescan/pipeline/analyze.h"

namespace fs = std::filesystem;
using spinescan::ModelError;
using spinescan::pipeline::check_bundle_manifest;

namespace {

nlohmann::json shipped_manifest() {
  std::ifstream in(fs::path(SPINESCAN_SOURCE_DIR) / "models/default/manifest.json");
  return nlohmann::json::parse(in);
}

// The message of the ModelError that checking the shipped manifest, changed by `change`, throws.
std::string refusal(const std::function<void(nlohmann::json&)>& change) {
  nlohmann::json m = shipped_manifest();
  change(m);
  try {
    check_bundle_manifest(m);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(BundleManifest, TheShippedManifestPasses) { EXPECT_NO_THROW(check_bundle_manifest(shipped_manifest())); }

TEST(BundleManifest, AWronglyTypedFieldIsNamedByItsPath) {
  EXPECT_NE(refusal([](auto& m) { m["detector"]["canvas"]["size"] = "big"; }).find("/detector/canvas/size"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["levels"]["head"]["cues"] = 3; }).find("/levels/head/cues"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["classifier"]["crop"].erase("context"); }).find("context"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["ood"] = nlohmann::json::array(); }).find("section 'ood'"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["intensity_model"]["bias"] = "x"; }).find("/aggregator/intensity_model/bias"),
            std::string::npos);
}

TEST(BundleManifest, AMissingAggregatorFieldIsNamedNotDefaulted) {
  // Issue 20 §5: nothing silently defaulted. These once fell back to built-in values.
  EXPECT_NE(refusal([](auto& m) { m["aggregator"].erase("threshold"); }).find("threshold"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["link"].erase("max_gap"); }).find("max_gap"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"].erase("link"); }).find("link"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"].erase("features"); }).find("features"), std::string::npos);
}

TEST(BundleManifest, FileNamesThatLeaveTheBundleAndValuesOutOfRangeAreRefused) {
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["model_file"] = "../../x.json"; }).find("model_file"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["classifier"]["weights"] = "/etc/passwd"; }).find("classifier weights"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["levels"]["head"]["level_net"]["weights"] = "../w.pt"; }).find("level net weights"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["threshold"] = 1.5; }).find("threshold"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["link"]["max_gap"] = -3; }).find("link options"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["levels"]["head"]["level_net"]["spec"].erase("crop"); }).find("level net"),
            std::string::npos);
}

TEST(BundleManifest, AnotherVersionIsRefusedAndUpgradingOneIsLossless) {
  // Version 1: no "version", the level model inside the aggregator, its run's level accuracy
  // in the aggregator's provenance.
  const nlohmann::json shipped = shipped_manifest();
  nlohmann::json v1 = shipped;
  v1.erase("version");
  v1["aggregator"]["levels"] = v1["levels"];
  v1.erase("levels");
  v1["aggregator"]["provenance"]["heldout_fold"]["levels"] = {{"accuracy", 0.81}};
  EXPECT_NE(refusal([&](auto& m) { m = v1; }).find("model upgrade"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["version"] = 3; }).find("newer spinescan"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["version"] = "2"; }).find("version"), std::string::npos);

  const auto up = spinescan::pipeline::upgrade_manifest(v1);
  EXPECT_EQ(up.manifest, shipped);  // the level model moved, the stale accuracy gone, version 2
  EXPECT_EQ(up.changes.size(), 3u);
  EXPECT_NO_THROW(check_bundle_manifest(up.manifest));
  EXPECT_TRUE(spinescan::pipeline::upgrade_manifest(shipped).changes.empty());
  // A version 1 manifest that already has a "levels" section keeps it over the aggregator's.
  nlohmann::json both = v1;
  both["levels"] = shipped["levels"];
  both["aggregator"]["levels"] = {{"lowest_level", "S1"}};
  EXPECT_EQ(spinescan::pipeline::upgrade_manifest(both).manifest["levels"], shipped["levels"]);
  EXPECT_THROW(spinescan::pipeline::upgrade_manifest(nlohmann::json{{"version", 9}}), ModelError);
  // A broken version 1 level model is a ModelError naming it, not a JSON exception.
  EXPECT_THROW(spinescan::pipeline::upgrade_manifest(nlohmann::json{{"aggregator", {{"levels", {{"rule", 3}}}}}}), ModelError);
  EXPECT_THROW(spinescan::pipeline::upgrade_manifest(nlohmann::json{{"aggregator", {{"levels", "L5"}}}}), ModelError);
}
