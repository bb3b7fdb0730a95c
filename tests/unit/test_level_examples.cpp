// The level head learnt from ground truth (levels/level_examples.h): examples of each
// way the lowest found body can relate to the lowest labelled one, and the head picking
// between the detector's usual level and the one below it.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "spinescan/aggregate/features.h"
#include "spinescan/classify/samples.h"
#include "spinescan/levels/level_examples.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::levels;
using namespace spinescan::pipeline;

TEST(LevelExamples, TheBoxBelowFollowsTheColumnsStep) {
  aggregate::Track upper, lower;
  for (int k = 0; k < 3; ++k) {
    upper.boxes.push_back({k, {20, 10, 60, 40}, 1});
    lower.boxes.push_back({k, {25, 50, 65, 80}, 1});  // 40 rows down, 5 columns back
  }
  const aggregate::Track below = one_step_below(lower, upper);
  ASSERT_EQ(below.boxes.size(), 3u);
  EXPECT_DOUBLE_EQ(below.centre_y(), lower.centre_y() + 40);
  EXPECT_DOUBLE_EQ(below.centre_x(), lower.centre_x() + 5);
  EXPECT_DOUBLE_EQ(below.boxes[0].box.height(), 30);  // same size
  EXPECT_EQ(below.boxes[2].slice, 2);
}

TEST(LevelExamples, EachPhantomCaseGivesItsLowestBodyTheOneAboveAndTheOneBelow) {
  spinescan::testing::TempDir tmp;
  auto o = spinescan::testing::small_phantom_options();
  write_phantom_dataset(tmp / "ds", 3, 5, o, false);
  const Dataset d = load_dataset(tmp / "ds");
  const auto data = classify::load_classifier_data(d, {});
  const LowestLevelExamples e = ground_truth_lowest_examples(data);
  // Phantoms label S1 as their lowest body and draw an unlabelled sacral segment below it;
  // their field of view often ends in that segment, and a box whose centre is outside the
  // image is no example.
  std::map<std::string, int> count;
  for (const auto& l : e.levels) ++count[l];
  EXPECT_EQ(count["S1"], 3);
  EXPECT_EQ(count["L5"], 3);
  EXPECT_GE(count["S2"], 1);
  EXPECT_EQ(count.size(), 3u);
  EXPECT_EQ(e.features.size(), e.levels.size());
  EXPECT_EQ(e.cases.size(), e.levels.size());
  const auto& names = aggregate::vertebra_feature_names();
  const size_t disc_below = static_cast<size_t>(std::find(names.begin(), names.end(), "slice_disc_below_mean") - names.begin());
  std::map<std::string, std::set<double>> signal_by_case;
  for (size_t i = 0; i < e.features.size(); ++i) {
    ASSERT_EQ(e.features[i].size(), names.size());
    EXPECT_FALSE(std::isnan(e.features[i][disc_below])) << i;
    signal_by_case[e.cases[i]].insert(e.features[i][disc_below]);
  }
  // A case's examples are different places in the image: one per example.
  for (const auto& [name, values] : signal_by_case)
    EXPECT_EQ(values.size(), static_cast<size_t>(std::count(e.cases.begin(), e.cases.end(), name))) << name;
  // Only signal cues: the detector's scores are not in ground truth and the box below copies
  // the lowest body's size and shape.
  const std::vector<std::string> expected = {"signal_vs_neighbours", "slice_body_p50", "slice_inferior_band_minus_body",
                                             "slice_disc_below_mean"};
  EXPECT_EQ(image_level_cue_names(), expected);
}

namespace {
std::vector<double> row_with(const std::string& name, double value) {
  const auto& names = aggregate::vertebra_feature_names();
  std::vector<double> row(names.size(), 0.0);
  row[static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin())] = value;
  return row;
}

std::vector<double> with_feature(std::vector<double> row, const std::string& name, double value) {
  const auto& names = aggregate::vertebra_feature_names();
  row[static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin())] = value;
  return row;
}

// Ground truth in which the band below tells L5 (bright) from S1 (dark), as in the test below.
LowestLevelExamples disc_below_examples() {
  LowestLevelExamples gt;
  for (int c = 0; c < 8; ++c) {
    gt.features.push_back(row_with("slice_disc_below_mean", 0.6 + 0.02 * c)), gt.levels.push_back("L5");
    gt.features.push_back(row_with("slice_disc_below_mean", 0.1 + 0.02 * c)), gt.levels.push_back("S1");
  }
  return gt;
}
}  // namespace

TEST(LevelExamples, HeadFromGroundTruthPicksBetweenTheUsualLevelAndTheOneBelow) {
  // The detector's lowest body is L5 in all ten training cases (it never boxed S1 there).
  std::vector<VertebraRecord> records;
  std::vector<std::string> cases;
  for (int c = 0; c < 10; ++c) {
    const std::string name = "case" + std::to_string(c);
    cases.push_back(name);
    for (int k = 0; k < 5; ++k) {
      VertebraRecord r;
      r.case_name = name;
      r.found = true;
      r.from_bottom = k;
      r.truth_label = 5 - k;
      r.truth_level = aggregate::level_above("L5", k);
      r.features = row_with("slice_disc_below_mean", 0.7 + 0.01 * c);
      records.push_back(r);
    }
  }
  // Ground truth of L5 alone: too few examples of the other level for a head, always L5.
  LowestLevelExamples l5_only;
  for (int c = 0; c < 8; ++c) l5_only.features.push_back(row_with("slice_disc_below_mean", 0.6)), l5_only.levels.push_back("L5");
  const aggregate::LevelModel plain = learn_levels(records, cases, l5_only);
  EXPECT_EQ(plain.lowest_level, "L5");
  EXPECT_TRUE(plain.alternative_level.empty());
  EXPECT_FALSE(plain.head.fitted());
  // Ground truth: under L5 a bright band, under S1 (one step below) a dark one; L4 examples
  // (the detector missing L5) are not part of this pair and must not disturb it.
  LowestLevelExamples gt;
  for (int c = 0; c < 8; ++c) {
    gt.features.push_back(row_with("slice_disc_below_mean", 0.6 + 0.02 * c)), gt.levels.push_back("L5");
    gt.features.push_back(row_with("slice_disc_below_mean", 0.1 + 0.02 * c)), gt.levels.push_back("S1");
    gt.features.push_back(row_with("slice_disc_below_mean", 0.05)), gt.levels.push_back("L4");
  }
  const aggregate::LevelModel m = learn_levels(records, cases, gt, 0.2);
  EXPECT_EQ(m.lowest_level, "L5");  // the usual level stays the default
  EXPECT_EQ(m.alternative_level, "S1");
  EXPECT_TRUE(m.head.fitted());
  EXPECT_EQ(m.head_cues, image_level_cue_names());
  EXPECT_DOUBLE_EQ(m.head_training_accuracy, 1.0);
  // The records show no S1, so the prior is the one given, and there is no score head.
  EXPECT_DOUBLE_EQ(m.alternative_rate, 0.2);
  EXPECT_FALSE(m.score_head.fitted());
  const auto& names = aggregate::vertebra_feature_names();
  EXPECT_EQ(m.lowest_for(names, row_with("slice_disc_below_mean", 0.0)), "S1");
  EXPECT_EQ(m.lowest_for(names, row_with("slice_disc_below_mean", 0.8)), "L5");
  EXPECT_EQ(m.lowest_for(names, row_with("slice_disc_below_mean", std::nan(""))), "L5");
  EXPECT_DOUBLE_EQ(m.alternative_probability(names, row_with("slice_disc_below_mean", std::nan(""))), -1);
  // The prior moves the probability the way Bayes says: odds scale with r / (1 - r).
  aggregate::LevelModel even = m;
  even.alternative_rate = 0.5;
  const auto x = row_with("slice_disc_below_mean", 0.35);
  const double p = m.alternative_probability(names, x), q = even.alternative_probability(names, x);
  EXPECT_NEAR(p / (1 - p), q / (1 - q) * (0.2 / 0.8), 1e-6);
  // The head survives its JSON round trip (it is stored in the bundle), written as a head only.
  EXPECT_TRUE(m.to_json().contains("head"));
  EXPECT_FALSE(m.to_json().contains("rule"));
  const aggregate::LevelModel back = aggregate::LevelModel::from_json(m.to_json());
  EXPECT_DOUBLE_EQ(back.alternative_probability(names, x), p);
  EXPECT_EQ(back.lowest_for(names, row_with("slice_disc_below_mean", 0.0)), "S1");
  // Its confidence is measured on the records: all ten cases named right -> 11/12.
  EXPECT_DOUBLE_EQ(m.confidence, 11.0 / 12.0);
}

TEST(LevelExamples, OutOfFoldRecordsGiveThePriorAndAScoreHeadOnTheDetectorsDoubt) {
  // Twelve training cases read by detectors that never saw them: in four the lowest body found
  // is the unlabelled S1 (no truth level; the body above it is L5), found with a low mean score.
  std::vector<VertebraRecord> records;
  std::vector<std::string> cases;
  for (int c = 0; c < 12; ++c) {
    const std::string name = "case" + std::to_string(c);
    cases.push_back(name);
    const bool boxed_s1 = c < 4;
    for (int k = 0; k < 6; ++k) {
      VertebraRecord r;
      r.case_name = name;
      r.found = true;
      r.from_bottom = k;
      const int steps_above_l5 = boxed_s1 ? k - 1 : k;
      r.truth_level = steps_above_l5 < 0 ? "" : aggregate::level_above("L5", steps_above_l5);
      r.truth_label = steps_above_l5 < 0 ? 0 : 5 - steps_above_l5;
      const bool lowest = k == 0;
      // What lies under the S1 boxes looks half like a disc (the image head is unsure there).
      r.features = lowest && boxed_s1 ? with_feature(row_with("slice_disc_below_mean", 0.35), "score_mean", 0.4 + 0.02 * c)
                                      : with_feature(row_with("slice_disc_below_mean", 0.7), "score_mean", 0.85 + 0.01 * c);
      records.push_back(r);
    }
  }
  const LowestLevelExamples gt = disc_below_examples();
  const aggregate::LevelModel m = learn_levels(records, cases, gt, 0.05);
  EXPECT_EQ(m.lowest_level, "L5");
  EXPECT_EQ(m.alternative_level, "S1");
  // The prior is what the records show (4 of 12), not the default given.
  EXPECT_DOUBLE_EQ(m.alternative_rate, 4.0 / 12.0);
  ASSERT_TRUE(m.score_head.fitted());
  EXPECT_EQ(m.score_cues, score_level_cue_names());
  const auto& names = aggregate::vertebra_feature_names();
  // Same image, the detector less sure: S1 becomes more likely; the image-only probability
  // does not move, and the two heads' log-odds add.
  const auto ambiguous = row_with("slice_disc_below_mean", 0.35);
  const auto sure = with_feature(ambiguous, "score_mean", 0.95), doubtful = with_feature(ambiguous, "score_mean", 0.4);
  const double p_sure = m.alternative_probability(names, sure), p_doubtful = m.alternative_probability(names, doubtful);
  const auto logit = [](double p) { return std::log(p / (1 - p)); };
  EXPECT_GT(logit(p_doubtful), logit(p_sure) + 1.0);
  EXPECT_DOUBLE_EQ(m.alternative_probability(names, sure, false), m.alternative_probability(names, doubtful, false));
  const double image_only = m.alternative_probability(names, doubtful, false);
  const double q = m.score_head.predict({0.4});
  EXPECT_NEAR(logit(p_doubtful), logit(image_only) + logit(q), 1e-6);
  // A missing detector cue leaves the image head's answer.
  EXPECT_DOUBLE_EQ(m.alternative_probability(names, with_feature(ambiguous, "score_mean", std::nan(""))), m.alternative_probability(names, ambiguous, false));
  // An image that says L5 clearly stays L5 even with a doubtful detector; the score head is in the JSON.
  EXPECT_EQ(m.lowest_for(names, with_feature(row_with("slice_disc_below_mean", 0.9), "score_mean", 0.4)), "L5");
  const aggregate::LevelModel back = aggregate::LevelModel::from_json(m.to_json());
  ASSERT_TRUE(back.score_head.fitted());
  EXPECT_DOUBLE_EQ(back.alternative_probability(names, doubtful), p_doubtful);
  // Counting from the lowest body as the model names it, every case comes out right here.
  EXPECT_DOUBLE_EQ(m.confidence, 13.0 / 14.0);

  // With a level net, its logit takes the image head's place where it is known: prior, net and
  // score head add; an unknown logit leaves the image head's answer.
  const nlohmann::json net = {{"weights", "level_net.pt"}, {"spec", {{"crop", {{"size", 64}}}}}};
  // The net reads every case right but one: case 0's S1, which it calls L5 firmly.
  for (auto& r : records)
    if (r.from_bottom == 0) r.level_net_logit = r.case_name == "case0" ? -10.0 : r.truth_level.empty() ? 3.0 : -3.0;
  const aggregate::LevelModel with_net = learn_levels(records, cases, gt, 0.05, net);
  EXPECT_EQ(with_net.level_net, net);
  const auto cue_names = aggregate::lowest_cue_names(names);
  const auto cues_of = [&](double net_logit) { return aggregate::lowest_body_cues(names, doubtful, net_logit).values; };
  const double r = with_net.alternative_rate;
  EXPECT_NEAR(logit(with_net.alternative_probability(cue_names, cues_of(-2.0))), -2.0 + std::log(r / (1 - r)) + logit(q), 1e-6);
  EXPECT_DOUBLE_EQ(with_net.alternative_probability(cue_names, cues_of(std::nan(""))), with_net.alternative_probability(names, doubtful));
  EXPECT_DOUBLE_EQ(m.alternative_probability(cue_names, cues_of(-2.0)), p_doubtful);  // no net: the cue is not read
  // The net overrules the image head (which says L5 above, for this image and score), and the
  // model's confidence counts with the net's logits of the records: case 0 is now named wrong.
  const auto says_l5 = with_feature(row_with("slice_disc_below_mean", 0.9), "score_mean", 0.4);
  EXPECT_EQ(with_net.lowest_for(cue_names, aggregate::lowest_body_cues(names, says_l5, 6.0).values), "S1");
  EXPECT_DOUBLE_EQ(with_net.confidence, 12.0 / 14.0);
  const aggregate::LevelModel net_back = aggregate::LevelModel::from_json(with_net.to_json());
  EXPECT_EQ(net_back.level_net, net);
  EXPECT_DOUBLE_EQ(net_back.alternative_probability(cue_names, cues_of(-2.0)), with_net.alternative_probability(cue_names, cues_of(-2.0)));
}
