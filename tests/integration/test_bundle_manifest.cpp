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
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["levels"]["head"]["cues"] = 3; }).find("/aggregator/levels/head/cues"),
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
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["levels"]["head"]["level_net"]["weights"] = "../w.pt"; }).find("level net weights"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["threshold"] = 1.5; }).find("threshold"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["link"]["max_gap"] = -3; }).find("link options"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m["aggregator"]["levels"]["head"]["level_net"]["spec"].erase("crop"); }).find("level net"),
            std::string::npos);
}
