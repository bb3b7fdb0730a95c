// The checks that refuse a study the models were not made for (pipeline/fitness.h), and the
// out-of-distribution reference that withholds verdicts (aggregate/ood.h).
#include <gtest/gtest.h>

#include <cmath>

#include "spinescan/aggregate/ood.h"
#include "spinescan/core/errors.h"
#include "spinescan/data/phantom.h"
#include "spinescan/io/orientation.h"
#include "spinescan/pipeline/fitness.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::pipeline;

namespace {

// A column of `n` bodies, `height_px` tall and `depth_px` deep, centres `step_px` apart down
// and `shift_px` across, each seen on three slices.
std::vector<aggregate::Track> column(int n, double height_px, double depth_px, double step_px, double shift_px = 0) {
  std::vector<aggregate::Track> tracks;
  for (int i = 0; i < n; ++i) {
    aggregate::Track t;
    const double cy = 50 + i * step_px, cx = 80 + i * shift_px;
    for (int s = 0; s < 3; ++s) t.boxes.push_back({s, {cx - depth_px / 2, cy - height_px / 2, cx + depth_px / 2, cy + height_px / 2}, 0.9});
    tracks.push_back(t);
  }
  return tracks;
}

bool mentions(const std::string& reason, const std::string& what) { return reason.find(what) != std::string::npos; }

}  // namespace

TEST(Fitness, ColumnGeometryInMillimetres) {
  // Pixels of 0.5 mm across (columns) and 0.4 mm down (rows): bodies 28 mm tall, 40 mm deep,
  // centres 36 mm down and 6 mm across apart.
  const auto g = column_geometry(column(5, 70, 80, 90, 12), {0.5, 0.4, 3.0});
  EXPECT_EQ(g.num_bodies, 5);
  EXPECT_NEAR(g.median_height_mm, 28, 1e-9);
  EXPECT_NEAR(g.median_depth_mm, 40, 1e-9);
  EXPECT_NEAR(g.max_step_body_heights, std::hypot(36.0, 6.0) / 28, 1e-9);
  EXPECT_NEAR(g.max_overlap_fraction, (28.0 - 36.0) / 28, 1e-9);  // an 8 mm gap: negative overlap
  // Each neighbouring pair's overlap too, in the report's column section.
  ASSERT_EQ(g.overlap_fractions.size(), 4u);
  for (double x : g.overlap_fractions) EXPECT_NEAR(x, (28.0 - 36.0) / 28, 1e-9);
  EXPECT_EQ(g.to_json()["overlap_fractions"].size(), 4u);
  EXPECT_NEAR(g.max_step_angle_deg, std::atan2(6.0, 36.0) * 180 / M_PI, 1e-9);
  EXPECT_EQ(refusal_after_detection(g), "");
  EXPECT_EQ(column_geometry({}, {1, 1, 1}).num_bodies, 0);
}

TEST(Fitness, RefusesWhatIsNoSpinalColumn) {
  const std::array<double, 3> mm{1, 1, 3};
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(2, 28, 40, 36), mm)), "2 vertebral bodies found"));
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(0, 28, 40, 36), mm)), "0 vertebral bodies found"));
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(5, 6, 40, 12), mm)), "tall"));    // specks
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(5, 80, 90, 95), mm)), "tall"));  // organs
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(5, 28, 8, 36), mm)), "deep"));
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(column(5, 28, 40, 0.5, 36), mm)), "side by side"));
  // A body far below the others: more than two missed bodies, or something else.
  auto gap = column(4, 28, 40, 36);
  for (auto& b : gap.back().boxes) b.box.y1 += 80, b.box.y2 += 80;
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(gap, mm)), "body heights apart"));
  // Overlapping "bodies" (18 of 28 mm) are a column with its count in doubt (levels/decision.h), not
  // a refusal: an infected column's two bodies overlap so (docs/analyze.md). The geometry names
  // the pair that overlaps most.
  auto overlapping = column(5, 28, 40, 36);
  for (auto& b : overlapping[3].boxes) b.box.y1 -= 18, b.box.y2 -= 18;  // body 3 rises 18 mm into body 2
  const auto g_overlap = column_geometry(overlapping, mm);
  EXPECT_EQ(refusal_after_detection(g_overlap), "");
  EXPECT_NEAR(g_overlap.max_overlap_fraction, (28.0 - 36 + 18) / 28, 1e-9);
  EXPECT_EQ(g_overlap.most_overlapping_upper, 2);
  EXPECT_EQ(pair_in_doubt(g_overlap), 2);  // 0.36 > 0.35
  FitnessOptions stricter;
  stricter.doubt_overlap_fraction = 0.4;
  EXPECT_EQ(pair_in_doubt(g_overlap, stricter), -1);
  EXPECT_EQ(pair_in_doubt(column_geometry(column(5, 28, 40, 36), mm)), -1);  // abutting bodies
  // A body cut by the top of the field: short and close to the next, yet not overlapping it.
  auto cut = column(5, 28, 40, 36);
  for (auto& b : cut.front().boxes) b.box.y1 = b.box.y2 - 5;
  EXPECT_EQ(refusal_after_detection(column_geometry(cut, mm)), "");
  // One missed body (a step of two) and the lumbosacral turn (40 degrees) are a column still.
  auto missed = column(5, 28, 40, 36);
  missed.erase(missed.begin() + 2);
  EXPECT_EQ(refusal_after_detection(column_geometry(missed, mm)), "");
  // A stray track behind the column (a blob beside S1) is left out of the steps; many are no column.
  auto stray = column(6, 28, 40, 36);
  for (auto& b : stray[5].boxes) b.box.x1 += 100, b.box.x2 += 100, b.box.y1 -= 20, b.box.y2 -= 20;
  const auto with_stray = column_geometry(stray, mm);
  EXPECT_EQ(with_stray.num_off_column, 1);
  EXPECT_EQ(with_stray.overlap_fractions.size(), 4u);  // the five bodies on the column
  EXPECT_NEAR(with_stray.max_step_body_heights, 36.0 / 28, 1e-9);
  EXPECT_EQ(refusal_after_detection(with_stray), "");
  auto strays = column(5, 28, 40, 36);
  for (int i : {3, 4})
    for (auto& b : strays[i].boxes) b.box.x1 += 100, b.box.x2 += 100;
  EXPECT_TRUE(mentions(refusal_after_detection(column_geometry(strays, mm)), "2 of the 5 bodies found lie far in front of or behind"));
  auto turn = column(5, 28, 40, 36);
  for (auto& b : turn.back().boxes) b.box.x1 += 30, b.box.x2 += 30;
  EXPECT_EQ(refusal_after_detection(column_geometry(turn, mm)), "");
}

TEST(Fitness, RefusesOtherPlanesThickSlicesSmallFieldsAndEmptyImages) {
  PhantomOptions o = spinescan::testing::small_phantom_options();
  o.random_direction = false;
  const Phantom p = make_phantom(3, o);
  Volume<float> canonical = p.canonical_image.like<float>();
  for (size_t i = 0; i < canonical.voxels.size(); ++i) canonical.voxels[i] = p.canonical_image.voxels[i];
  StudyInfo info;
  info.spacing_mm = canonical.spacing_mm;
  info.acquisition_plane = acquisition_plane(canonical.direction, canonical.spacing_mm);
  ASSERT_EQ(info.acquisition_plane, "sagittal");
  EXPECT_EQ(refusal_before_detection(info, canonical), "");

  StudyInfo coronal = info;
  coronal.acquisition_plane = "coronal";
  coronal.spacing_mm = {0.8, 4.0, 0.8};
  EXPECT_TRUE(mentions(refusal_before_detection(coronal, canonical), "acquired in the coronal plane with 4.0 mm slices"));
  coronal.spacing_mm = {0.9, 1.2, 0.9};  // a thin 3D acquisition: read
  EXPECT_EQ(refusal_before_detection(coronal, canonical), "");
  StudyInfo axial = info;
  axial.acquisition_plane = "axial";
  axial.spacing_mm = {0.7, 0.7, 3.0};
  EXPECT_TRUE(mentions(refusal_before_detection(axial, canonical), "axial plane"));

  Volume<float> thick = canonical;
  thick.spacing_mm[2] = 10;
  EXPECT_TRUE(mentions(refusal_before_detection(info, thick), "sagittal slices 10.0 mm apart"));
  Volume<float> coarse = canonical;
  coarse.spacing_mm[0] = 4;
  EXPECT_TRUE(mentions(refusal_before_detection(info, coarse), "pixels of"));
  Volume<float> small = canonical;
  small.spacing_mm[1] = 60.0 / static_cast<double>(small.size[1]);
  EXPECT_TRUE(mentions(refusal_before_detection(info, small), "head to foot"));
  Volume<float> shallow = canonical;
  shallow.spacing_mm[0] = 30.0 / static_cast<double>(shallow.size[0]);
  EXPECT_TRUE(mentions(refusal_before_detection(info, shallow), "front to back"));
  // 70 mm holds a body but not the canal and arch behind it: a slab, not a lumbar sagittal image.
  shallow.spacing_mm[0] = 70.0 / static_cast<double>(shallow.size[0]);
  EXPECT_TRUE(mentions(refusal_before_detection(info, shallow), "front to back"));
  shallow.spacing_mm[0] = 200.0 / static_cast<double>(shallow.size[0]);
  EXPECT_EQ(refusal_before_detection(info, shallow), "");

  Volume<float> empty = canonical;
  std::fill(empty.voxels.begin(), empty.voxels.end(), 0.0f);
  for (size_t i = 0; i < empty.voxels.size() / 50; ++i) empty.voxels[i * 50] = 100;  // 2 % bright
  EXPECT_NEAR(signal_fraction(empty), 0.02, 0.005);
  EXPECT_TRUE(mentions(refusal_before_detection(info, empty), "hold signal"));
  EXPECT_GT(signal_fraction(canonical), 0.2);
}

// The out-of-distribution reference (aggregate/ood.h): robust z of the appearance features.
TEST(OodReference, ScoresRobustZAndWithholdsAboveAMarginOverTraining) {
  const std::vector<std::string> names = {"p_max", "height_mm", "depth_mm"};
  // Ten training studies of three vertebrae: height 25 +- 1, depth 40 +- 2 (p_max is not read).
  std::vector<std::vector<std::vector<double>>> studies;
  for (int s = 0; s < 10; ++s) {
    std::vector<std::vector<double>> rows;
    for (int v = 0; v < 3; ++v) rows.push_back({0.9, 25.0 + (s + v) % 3 - 1, 40.0 + 2 * ((s + 2 * v) % 3 - 1)});
    studies.push_back(rows);
  }
  const auto r = aggregate::OodReference::fit({"height_mm", "depth_mm"}, names, studies, 1.5);
  ASSERT_EQ(r.features.size(), 2u);
  EXPECT_DOUBLE_EQ(r.median[0], 25);
  EXPECT_DOUBLE_EQ(r.median[1], 40);
  EXPECT_NEAR(r.scale[0], 1.4826, 1e-9);  // MAD 1
  EXPECT_NEAR(r.scale[1], 2 * 1.4826, 1e-9);
  // A vertebra at the medians scores 0; one 3 scales off in height and at the median depth, 1.5.
  EXPECT_DOUBLE_EQ(r.score(names, {{0.1, 25, 40}}), 0);
  EXPECT_NEAR(r.score(names, {{0.1, 25 + 3 * 1.4826, 40}}), 1.5, 1e-9);
  // The median over vertebrae: one wild body among familiar ones does not make a study unfamiliar;
  // a capped |z| keeps one wild column from deciding alone.
  EXPECT_DOUBLE_EQ(r.score(names, {{0, 25, 40}, {0, 25, 40}, {0, 900, 40}}), 0);
  EXPECT_NEAR(r.score(names, {{0, 1e6, 40}}), aggregate::OodReference::kMaxAbsZ / 2, 1e-9);
  EXPECT_TRUE(std::isnan(r.score(names, {})));
  EXPECT_NEAR(r.threshold, 1.5 * r.provenance["highest_training_score"].get<double>(), 1e-12);
  EXPECT_GT(r.threshold, 0);
  // Through JSON unchanged; a malformed section is a ModelError, not a default.
  const auto back = aggregate::OodReference::from_json(r.to_json());
  EXPECT_EQ(back.to_json(), r.to_json());
  auto bad = r.to_json();
  bad["scale"] = std::vector<double>{1.0};
  EXPECT_THROW(aggregate::OodReference::from_json(bad), ModelError);
  bad = r.to_json();
  bad["threshold"] = "high";
  EXPECT_THROW(aggregate::OodReference::from_json(bad), ModelError);
  EXPECT_THROW(r.score({"p_max", "height_mm"}, {{0, 25}}), ModelError);  // a feature this program lacks
}

// The same check on the classifier's own features (aggregate::EmbeddingOodReference): a
// vertebra's row is the mean of its judged boxes' embeddings, and the reference names the
// classifier it belongs to by a digest that does not depend on the build.
TEST(EmbeddingOodReference, AveragesTheJudgedBoxesAndNamesItsClassifier) {
  aggregate::Track t;
  t.boxes.resize(3);
  t.boxes[0].embedding = {1.0f, 4.0f};
  t.boxes[2].embedding = {3.0f, 0.0f};  // the middle box was not judged (a lateral sliver)
  const auto row = aggregate::vertebra_embedding(t, 2);
  ASSERT_EQ(row.size(), 2u);
  EXPECT_DOUBLE_EQ(row[0], 2.0);
  EXPECT_DOUBLE_EQ(row[1], 2.0);
  aggregate::Track unjudged;
  unjudged.boxes.resize(2);
  const auto none = aggregate::vertebra_embedding(unjudged, 2);
  EXPECT_TRUE(std::isnan(none[0]) && std::isnan(none[1]));
  EXPECT_THROW(aggregate::vertebra_embedding(t, 3), Error);
  EXPECT_EQ(aggregate::embedding_feature_names(2), (std::vector<std::string>{"embedding_0", "embedding_1"}));

  // 64-bit FNV-1a of the text {"a":1}, computed apart from this program.
  EXPECT_EQ(aggregate::section_digest(nlohmann::json{{"a", 1}}), "32e51dac937672f3");
  EXPECT_NE(aggregate::section_digest(nlohmann::json{{"a", 2}}), aggregate::section_digest(nlohmann::json{{"a", 1}}));

  std::vector<std::vector<std::vector<double>>> studies;
  for (int s = 0; s < 6; ++s) studies.push_back({{0.1 * s, 1.0}, {0.1 * s + 0.05, 1.1}});
  const auto names = aggregate::embedding_feature_names(2);
  aggregate::EmbeddingOodReference r;
  r.reference = aggregate::OodReference::fit(names, names, studies, 1.5);
  r.classifier_digest = "32e51dac937672f3";
  const auto back = aggregate::EmbeddingOodReference::from_json(r.to_json());
  EXPECT_EQ(back.to_json(), r.to_json());
  EXPECT_GT(r.reference.score(names, {{5.0, 9.0}}), r.reference.threshold);  // far from every training body
  auto unnamed = r.to_json();
  unnamed.erase("classifier_digest");
  EXPECT_THROW(aggregate::EmbeddingOodReference::from_json(unnamed), ModelError);
}
