// Checks on the real dataset (../shared/data/spine-mri). Skipped where it is absent, as on a
// user's fresh machine. SPINESCAN_REAL_DATA (environment) overrides the configured path.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "spinescan/data/boxes.h"
#include "spinescan/data/dataset.h"
#include "spinescan/data/lesions.h"
#include "spinescan/detect/evaluate.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/pipeline/evaluate.h"
#include "test_util.h"

using namespace spinescan;

namespace {

std::filesystem::path real_data() {
  const char* env = std::getenv("SPINESCAN_REAL_DATA");
  return env ? std::filesystem::path(env) : std::filesystem::path(SPINESCAN_REAL_DATA);
}

#define SKIP_WITHOUT_REAL_DATA()                                                              \
  if (!std::filesystem::exists(real_data() / "dataset.json")) GTEST_SKIP() << "no real data at " << real_data()

}  // namespace

TEST(RealData, ManifestAndCsvLoad) {
  SKIP_WITHOUT_REAL_DATA();
  const Dataset d = load_dataset(real_data());
  EXPECT_GE(d.cases.size(), 40u);
  EXPECT_GE(d.vertebrae.size(), 300u);
  for (const auto& v : d.vertebrae) {
    EXPECT_TRUE(v.level.empty() || is_known_level(v.level)) << v.case_name << " " << v.level;
  }
}

TEST(RealData, EveryCaseChecksClean) {
  SKIP_WITHOUT_REAL_DATA();
  const Dataset d = load_dataset(real_data());
  const auto problems = check_dataset(d);
  for (const auto& p : problems) ADD_FAILURE() << p.case_name << ": " << p.message;
}

TEST(RealData, SpiderCaseIsLpsAndCanonicalSlicesShowSuperiorUp) {
  SKIP_WITHOUT_REAL_DATA();
  const Dataset d = load_dataset(real_data());
  const CaseEntry& c = d.cases.front();
  const LoadedStudy s = load_study(c.image);
  EXPECT_EQ(s.info.orientation_code, "LPS");
  EXPECT_EQ(s.canonical.size[2], s.info.size_voxels[0]);  // slices = the LR axis
  EXPECT_EQ(s.canonical.size[1], s.info.size_voxels[2]);  // rows = the SI axis
  // Labels are numbered from the most cranial body: label 1 must sit higher (smaller
  // canonical row) than the last label on every slice where both appear.
  const Volume<uint16_t> labels = to_canonical(read_label_volume(c.labels));
  const auto rows = d.rows_of(c.name);
  int compared = 0;
  for (const auto& slice : boxes_per_slice(labels, 50)) {
    if (slice.size() < 2) continue;
    EXPECT_LT(slice.front().box.y1, slice.back().box.y1);
    ++compared;
  }
  EXPECT_GT(compared, 0);
  // Lumbar bodies are 20-45 mm deep (A-P) on mid-sagittal slices.
  const auto mid = boxes_per_slice(labels, 50)[labels.size[2] / 2];
  ASSERT_FALSE(mid.empty());
  for (const auto& b : mid) {
    const double depth_mm = b.box.width() * labels.spacing_mm[0];
    EXPECT_GT(depth_mm, 15) << "label " << b.label;
    EXPECT_LT(depth_mm, 60) << "label " << b.label;
  }
}

// The shipped detector on one of the real cases it never saw in training (recorded in its
// manifest). Guards against a broken bundle or a regression in the inference path.
TEST(RealData, ShippedDetectorFindsTheBodiesOfAHeldOutCase) {
  SKIP_WITHOUT_REAL_DATA();
  const std::filesystem::path bundle = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
  if (!std::filesystem::exists(bundle / "manifest.json")) GTEST_SKIP() << "no shipped model";
  std::ifstream in(bundle / "manifest.json");
  const auto manifest = nlohmann::json::parse(in);
  const auto heldout = manifest["detector"]["provenance"]["run"]["heldout_cases"];
  ASSERT_FALSE(heldout.empty());
  spinescan::testing::TempDir tmp;
  detect::DetectorEvalConfig c;
  c.data = real_data().string();
  c.model = bundle.string();
  c.cases = {heldout[0].get<std::string>()};
  c.out = (tmp / "eval").string();
  c.overlays = 0;
  const auto m = nlohmann::json::parse(detect::evaluate_detector(c));
  EXPECT_GT(m["detection"]["mean_iou"].get<double>(), 0.7) << m["detection"].dump();
  EXPECT_GT(m["detection"]["recall_at_50"].get<double>(), 0.85) << m["detection"].dump();
}

// The shipped bundle (every stage trained on fold 0's training cases) on fold 0's ten held-out
// cases, end to end. Its classifier and aggregator learnt lesions painted into the training
// cases (docs/model_card.md), not the source's endplate/Modic proxy, so on the real cases the
// promise is no scanner shortcut: few healthy-labelled bodies flagged in either source, every
// body found, none refused, no verdict withheld, the levels named. Measured (docs/model_card.md,
// "Shipped"): 1 of SPIDER's 5 healthy-labelled bodies flagged, 2 of Chu et al.'s 28, levels 0.904,
// all 73 bodies found. These cases were held out of
// training but not of design (the level stage and the painted recipe were chosen looking at
// them). The bounds leave room, not a free pass.
TEST(RealData, ShippedBundleEndToEndOnTheHeldOutFold) {
  SKIP_WITHOUT_REAL_DATA();
  const std::filesystem::path bundle = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
  std::ifstream in(bundle / "manifest.json");
  const auto manifest = nlohmann::json::parse(in);
  if (!manifest.contains("aggregator")) GTEST_SKIP() << "the shipped bundle has no aggregator";
  spinescan::testing::TempDir tmp;
  pipeline::PipelineEvalConfig c;
  c.data = real_data().string();
  c.model = bundle.string();
  c.cases = manifest["detector"]["provenance"]["run"]["heldout_cases"].get<std::vector<std::string>>();
  c.out = (tmp / "eval").string();
  c.reports = 0;
  c.bootstrap = 100;
  const auto m = nlohmann::json::parse(pipeline::evaluate_pipeline(c));
  EXPECT_EQ(m["vertebrae_3d"]["found"], m["vertebrae_3d"]["truth"]);
  EXPECT_TRUE(m["refused"].empty()) << "real lumbar studies refused: " << m["refused"].dump();
  EXPECT_TRUE(m["verdicts_withheld"].empty()) << m["verdicts_withheld"].dump();
  for (const auto& [source, h] : m["healthy_flag_rate_by_source"].items()) {
    EXPECT_GT(h["n"].get<int>(), 0) << source;
    EXPECT_LE(h["flag_rate"].get<double>(), 0.4) << source << ": " << h.dump();
  }
  EXPECT_GE(m["levels"]["accuracy"].get<double>(), 0.85) << m["levels"].dump();
}

// The same bundle on lesions painted into those ten held-out cases with a seed no training used
// (41): what its verdicts were made for. Measured: AUC 0.810, F1 0.759, unpainted bodies flagged
// 8 of 22 (SPIDER) and 2 of 12 (Chu et al.); the bundle before it (2026-12-05) 0.787, 0.722, 6
// and 1. The AUC and F1 bounds fail the bundles before that: the same classifier with an
// aggregator fitted on one painting (AUC 0.701, F1 0.603) and the proxy-trained one (AUC 0.459).
// The flag-rate bound guards against the scanner shortcut (88 % of SPIDER's healthy bodies
// flagged); issue 18's quarter is read on the five folds' 120 and 54 bodies
// (scripts/painted_five_folds.sh: 21 % and 9 %), where one of 22 bodies is not 4.5 %. New
// lesions, but anatomy the design has seen; the held-back cases are painted by another simulator.
TEST(RealData, ShippedBundleFlagsLesionsPaintedIntoTheHeldOutFold) {
  SKIP_WITHOUT_REAL_DATA();
  const std::filesystem::path bundle = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
  const auto manifest = nlohmann::json::parse(spinescan::testing::read_file(bundle / "manifest.json"));
  if (!manifest.contains("aggregator")) GTEST_SKIP() << "the shipped bundle has no aggregator";
  spinescan::testing::TempDir tmp;
  LesionOptions paint;
  paint.fraction = 0.45;
  paint.source_labels = "healthy";
  paint.cases = manifest["detector"]["provenance"]["run"]["heldout_cases"].get<std::vector<std::string>>();
  const auto painted = write_lesion_dataset(real_data(), tmp / "painted", 41, paint, false);
  ASSERT_GT(painted.painted_bodies, 10u);
  pipeline::PipelineEvalConfig c;
  c.data = (tmp / "painted").string();
  c.model = bundle.string();
  c.cases = paint.cases;
  c.out = (tmp / "eval").string();
  c.reports = 0;
  c.bootstrap = 100;
  const auto m = nlohmann::json::parse(pipeline::evaluate_pipeline(c));
  EXPECT_TRUE(m["verdicts_withheld"].empty()) << m["verdicts_withheld"].dump();
  EXPECT_GE(m["classification"]["vertebra"]["auc"].get<double>(), 0.76) << m["classification"]["vertebra"].dump();
  EXPECT_GE(m["classification"]["vertebra"]["f1"].get<double>(), 0.70) << m["classification"]["vertebra"].dump();
  for (const auto& [source, h] : m["healthy_flag_rate_by_source"].items())
    EXPECT_LE(h["flag_rate"].get<double>(), 0.4) << source << ": " << h.dump();
}
