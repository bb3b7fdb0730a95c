// Linking per-slice boxes into 3D vertebrae, and naming their levels (levels/decision.h).
#include <gtest/gtest.h>

#include <cmath>

#include "spinescan/aggregate/levels.h"
#include "spinescan/aggregate/tracks.h"
#include "spinescan/core/errors.h"
#include "spinescan/levels/decision.h"

using namespace spinescan::aggregate;
using spinescan::levels::decide_levels;
using spinescan::levels::LevelDecision;
using spinescan::levels::LevelEvidence;
using spinescan::levels::LevelWarning;

namespace {
LevelModel model_l5() {
  LevelModel m;
  m.lowest_level = "L5";
  m.confidence = 0.9;
  return m;
}
LevelEvidence evidence_rows(int rows) {
  LevelEvidence e;
  e.rows = rows;
  e.row_mm = 1.0;
  return e;
}

// A column of `n` bodies 30 px high with 10 px discs, seen on slices [first, last].
std::vector<TrackedBox> column(int n, int first, int last, int skip_slice = -1) {
  std::vector<TrackedBox> out;
  for (int k = first; k <= last; ++k) {
    if (k == skip_slice) continue;
    for (int b = 0; b < n; ++b) out.push_back({k, {20.0 + k % 2, 10.0 + 40 * b, 60.0, 40.0 + 40 * b}, 0.9});
  }
  return out;
}
}  // namespace

TEST(Tracks, LinksABodyAcrossSlicesAndBridgesOneMissedSlice) {
  auto boxes = column(5, 3, 12, /*skip_slice=*/7);
  const auto tracks = link_tracks(boxes);
  ASSERT_EQ(tracks.size(), 5u);
  for (size_t i = 0; i < tracks.size(); ++i) {
    EXPECT_EQ(tracks[i].first_slice(), 3);
    EXPECT_EQ(tracks[i].last_slice(), 12);
    EXPECT_EQ(tracks[i].boxes.size(), 9u);
    EXPECT_NEAR(tracks[i].centre_y(), 25.0 + 40 * static_cast<double>(i), 1e-9);  // superior first
  }
}

TEST(Tracks, DropsStrayBoxesAndMergesABodyLostForLongerThanTheGap) {
  auto boxes = column(3, 0, 4);
  auto more = column(3, 8, 12);  // the same bodies again after 3 empty slices
  boxes.insert(boxes.end(), more.begin(), more.end());
  boxes.push_back({6, 100, 100, 130, 130, 0.5});  // one stray box
  const auto tracks = link_tracks(boxes);
  ASSERT_EQ(tracks.size(), 3u);
  for (const auto& t : tracks) {
    EXPECT_EQ(t.first_slice(), 0);
    EXPECT_EQ(t.last_slice(), 12);
    EXPECT_EQ(t.boxes.size(), 10u);
  }
}

TEST(Tracks, NeverPutsTwoBoxesOfOneSliceInATrack) {
  std::vector<TrackedBox> boxes = {{0, {0, 0, 10, 10}, 1}, {1, {0, 0, 10, 10}, 1}, {1, {1, 1, 11, 11}, 1}, {2, {1, 1, 11, 11}, 1}};
  const auto tracks = link_tracks(boxes);
  for (const auto& t : tracks)
    for (size_t i = 1; i < t.boxes.size(); ++i) EXPECT_LT(t.boxes[i - 1].slice, t.boxes[i].slice);
}

TEST(Levels, CountsUpwardsFromTheLowestBody) {
  EXPECT_EQ(level_above("L5", 1), "L4");
  EXPECT_EQ(level_above("L1", 1), "T12");
  EXPECT_EQ(level_above("S1", 2), "L4");
  EXPECT_EQ(level_above("T1", 1), "");
  EXPECT_EQ(level_above("X9", 0), "");
  const auto tracks = link_tracks(column(6, 0, 5));
  const LevelDecision d = decide_levels(tracks, model_l5(), evidence_rows(400));
  ASSERT_EQ(d.names.size(), 6u);
  const std::vector<std::string> expected = {"T12", "L1", "L2", "L3", "L4", "L5"};
  EXPECT_EQ(d.names, expected);
  EXPECT_DOUBLE_EQ(d.confidences[5], 0.9);
  EXPECT_DOUBLE_EQ(d.confidences[0], 0.9 * std::pow(0.98, 5));  // 2 % a step up
  EXPECT_TRUE(d.warnings.empty());
  EXPECT_EQ(d.unjudged_level, "");  // a model without an alternative level hides nothing
}

TEST(Levels, WarnsWhenTheFieldOfViewCutsTheLowestBody) {
  const auto tracks = link_tracks(column(5, 0, 5));  // lowest body ends at row 200
  const LevelDecision d = decide_levels(tracks, model_l5(), evidence_rows(201));
  ASSERT_EQ(d.warnings, std::vector<LevelWarning>{LevelWarning::kFieldCutsLowest});
  EXPECT_NE(d.messages()[0].find("field of view"), std::string::npos);
  EXPECT_DOUBLE_EQ(d.confidences.back(), 0.45);
}

TEST(Levels, EverySignOfATransitionalVertebraGivesOneWarningThatNamesTheAssumption) {
  auto boxes = column(5, 0, 5);
  for (auto& b : boxes)
    if (b.box.y1 >= 170) b.box.y2 = b.box.y1 + 12;  // the lowest body 12 px high instead of 30
  const auto tracks = link_tracks(boxes);
  // The short lowest body alone.
  const LevelDecision shorter = decide_levels(tracks, model_l5(), evidence_rows(400));
  ASSERT_EQ(shorter.warnings, std::vector<LevelWarning>{LevelWarning::kCountTheVertebrae});
  const std::string line = shorter.messages()[0];
  EXPECT_EQ(line.rfind("count the vertebrae: the names assume the lowest body found is L5 (it is 40 % of the height", 0), 0u) << line;
  EXPECT_NE(line.find("transitional vertebra"), std::string::npos) << line;
  EXPECT_DOUBLE_EQ(shorter.confidences.back(), 0.9 * 0.6);
  // With an indecisive level net too: still one warning, with both reasons, and no name
  // surer than the net's reading.
  LevelEvidence both = evidence_rows(400);
  both.net_logit = 0.5;
  both.net_ceiling = 2.94;
  both.net_indecisive = true;
  const LevelDecision d = decide_levels(tracks, model_l5(), both);
  ASSERT_EQ(d.warnings, std::vector<LevelWarning>{LevelWarning::kCountTheVertebrae});
  ASSERT_EQ(d.messages().size(), 1u);
  EXPECT_NE(d.messages()[0].find("the level net reads +0.50"), std::string::npos) << d.messages()[0];
  EXPECT_NE(d.messages()[0].find("40 % of the height"), std::string::npos) << d.messages()[0];
  EXPECT_DOUBLE_EQ(d.confidences.back(), 1 / (1 + std::exp(-0.5)) * 0.6);
  // The thresholds are the model's: a lower bar for "short" sees nothing to warn of.
  LevelModel lenient = model_l5();
  lenient.naming.short_lowest_fraction = 0.3;
  EXPECT_TRUE(decide_levels(tracks, lenient, evidence_rows(400)).warnings.empty());
}

TEST(Levels, OverlappingNeighboursPutTheNamesAboveThemInDoubt) {
  const auto tracks = link_tracks(column(6, 0, 5));
  LevelEvidence e = evidence_rows(400);
  e.overlapping_upper = 2;  // the bodies named L2 and L3
  e.overlap_fraction = 0.5;
  const LevelDecision d = decide_levels(tracks, model_l5(), e);
  ASSERT_EQ(d.warnings, std::vector<LevelWarning>{LevelWarning::kBodiesOverlap});
  EXPECT_TRUE(spinescan::levels::count_warned(d.warnings));
  const std::string line = d.messages().at(0);
  EXPECT_EQ(line.rfind("count the vertebrae above L3: the bodies named L2 and L3 overlap by 50 %", 0), 0u) << line;
  // Names stay; those above the lower body of the pair keep half their confidence.
  const LevelDecision plain = decide_levels(tracks, model_l5(), evidence_rows(400));
  EXPECT_EQ(d.names, plain.names);
  for (size_t i = 0; i < 6; ++i) EXPECT_DOUBLE_EQ(d.confidences[i], plain.confidences[i] * (i <= 2 ? 0.5 : 1.0)) << i;
  EXPECT_FALSE(spinescan::levels::count_warned(plain.warnings));
}

TEST(Levels, NamingOptionsTravelWithTheLevelModel) {
  LevelModel m = model_l5();
  m.naming.bottom_margin_mm = 5;
  nlohmann::json j = m.to_json();
  EXPECT_DOUBLE_EQ(LevelModel::from_json(j).naming.bottom_margin_mm, 5.0);
  j.erase("naming");  // a bundle made before they were stored: the values it was measured with
  EXPECT_DOUBLE_EQ(LevelModel::from_json(j).naming.bottom_margin_mm, 3.0);
  EXPECT_DOUBLE_EQ(LevelModel::from_json(j).naming.unsure_p_high, 0.8);
  j["naming"] = m.naming.to_json();
  j["naming"]["confidence_kept_per_step"] = 1.5;
  EXPECT_THROW(LevelModel::from_json(j), spinescan::ModelError);
  j["naming"].erase("confidence_kept_per_step");
  EXPECT_THROW(LevelModel::from_json(j), spinescan::ModelError);
}

// Manifest version 2 has no one-feature rule: a level model holding one is refused with the
// commands that replace it, and an alternative level without a head is never said.
TEST(Levels, TheVersionOneRuleIsRefusedAndNoHeadMeansTheUsualLevel) {
  const nlohmann::json rule = {{"lowest_level", "L5"},
                               {"confidence", 0.8},
                               {"rule", {{"alternative_level", "S1"}, {"cue", "score_mean"}, {"threshold", 0.7},
                                         {"alternative_when_above", false}, {"training_accuracy", 1.0}}}};
  try {
    LevelModel::from_json(rule);
    ADD_FAILURE() << "a version 1 rule was read";
  } catch (const spinescan::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("spinescan train levels"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model add-levels"), std::string::npos) << e.what();
  }
  nlohmann::json plain = rule;
  plain.erase("rule");
  const LevelModel m = LevelModel::from_json(plain);
  EXPECT_EQ(m.lowest_for({"score_mean"}, {0.1}), "L5");
  LevelModel headless = m;
  headless.alternative_level = "S1";  // without a fitted head it cannot be picked
  EXPECT_EQ(headless.lowest_for({"score_mean"}, {0.1}), "L5");
  EXPECT_FALSE(headless.to_json().contains("head"));
  EXPECT_FALSE(headless.to_json().contains("rule"));
}

TEST(Tracks, DropsShortLateralTracksOffTheColumn) {
  auto boxes = column(5, 3, 14);                                          // bodies on 12 slices around slice 8.5
  for (int k = 0; k <= 2; ++k) boxes.push_back({k, 100, 60, 130, 90, 0.6});  // a blob on lateral slices 0-2
  for (int k = 7; k <= 9; ++k) boxes.push_back({k, 150, 95, 180, 125, 0.5}); // a short track at the midline
  const auto tracks = link_tracks(boxes);
  ASSERT_EQ(tracks.size(), 5u);
  for (const auto& t : tracks) EXPECT_EQ(t.boxes.size(), 12u);
  LinkOptions keep_all;
  keep_all.min_length_fraction = 0;
  keep_all.midline_margin_slices = 100;
  EXPECT_EQ(link_tracks(boxes, keep_all).size(), 7u);
}

// A structure boxed on the lateral slices of both sides at one height (spider_200 with an
// out-of-fold detector: behind the lowest lumbar body, slices 0-6 and 18-20 of 21) is merged into
// one track spanning the midline by the merge of disjoint tracks; with no box near the midline it
// is no body of the column (it shifted every level name above it by one).
TEST(Tracks, ATrackWithNoBoxNearTheMidlineIsDropped) {
  auto boxes = column(5, 0, 20);  // midline: slice 10
  for (int k : {0, 1, 2, 3, 4, 5, 6, 18, 19, 20}) boxes.push_back({k, 45, 190, 80, 225, 0.4});  // behind and below body 4
  const auto tracks = link_tracks(boxes);
  ASSERT_EQ(tracks.size(), 5u);
  for (const auto& t : tracks) EXPECT_EQ(t.boxes.size(), 21u);
  // The same boxes reaching the midline (slices 0-8 and 18-20) are a body seen off centre: kept.
  for (int k : {7, 8}) boxes.push_back({k, 45, 190, 80, 225, 0.4});
  EXPECT_EQ(link_tracks(boxes).size(), 6u);
}

TEST(Tracks, OneBodySeenTwiceKeepsTheTrackWithMoreEvidence) {
  auto boxes = column(4, 2, 13);
  // A second, overlapping box on body 1 (rows 50-70) on slices 4-11, weaker.
  for (int k = 4; k <= 11; ++k) boxes.push_back({k, 22, 58, 62, 86, 0.4});
  const auto tracks = link_tracks(boxes);
  ASSERT_EQ(tracks.size(), 4u);
  for (const auto& t : tracks) EXPECT_NEAR(t.largest().score, 0.9, 1e-9);
}
