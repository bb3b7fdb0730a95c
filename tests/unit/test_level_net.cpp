// The level net (levels/level_net.h): what it learns from (the lowest labelled body and the
// box one step below it, on central slices), and that a trained net saves and loads unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "spinescan/classify/samples.h"
#include "spinescan/core/errors.h"
#include "spinescan/data/dataset.h"
#include "spinescan/levels/level_examples.h"
#include "spinescan/levels/level_net.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::levels;
using namespace spinescan::pipeline;
using spinescan::testing::TempDir;

namespace {
const classify::ClassifierData& phantom_data() {
  static const classify::ClassifierData data = [] {
    static TempDir tmp;
    write_phantom_dataset(tmp / "ds", 3, 11, spinescan::testing::small_phantom_options(), false);
    return classify::load_classifier_data(load_dataset(tmp / "ds"), {});
  }();
  return data;
}

LevelNetOptions small_net_options() {
  LevelNetOptions o;
  o.preset = "micro";
  o.crop_size = 32;
  o.steps = 30;
  o.steps_per_epoch = 10;
  o.batch = 8;
  return o;
}
}  // namespace

TEST(LevelNet, LearnsFromTheLowestLabelledBodyAndTheBoxOneStepBelowOnCentralSlices) {
  const auto& data = phantom_data();
  const auto examples = level_net_examples(data);
  int cases_with_below = 0;
  for (size_t ci = 0; ci < data.cases.size(); ++ci) {
    const auto column = ground_truth_column(data, ci);
    ASSERT_GE(column.size(), 2u);
    const auto central = aggregate::central_boxes(column.back().track);
    ASSERT_FALSE(central.empty());
    const double dx = column.back().track.centre_x() - column[column.size() - 2].track.centre_x();
    const double dy = column.back().track.centre_y() - column[column.size() - 2].track.centre_y();
    std::vector<LevelNetExample> lowest, below;
    for (const auto& e : examples)
      if (e.case_index == static_cast<int>(ci)) (e.below ? below : lowest).push_back(e);
    ASSERT_EQ(lowest.size(), central.size()) << ci;
    // The box below is left out where its centre falls outside the image (it shows nothing there).
    const double below_row = column.back().track.centre_y() + dy;
    const bool below_inside = below_row < static_cast<double>(data.cases[ci].normalized.size[1]);
    ASSERT_EQ(below.size(), below_inside ? central.size() : 0u) << ci;
    cases_with_below += below_inside ? 1 : 0;
    for (size_t i = 0; i < central.size(); ++i) {
      EXPECT_EQ(lowest[i].slice, central[i].slice);
      EXPECT_DOUBLE_EQ(lowest[i].box.y1, central[i].box.y1);
      if (!below_inside) continue;
      EXPECT_EQ(below[i].slice, central[i].slice);
      EXPECT_DOUBLE_EQ(below[i].box.x1, central[i].box.x1 + dx);
      EXPECT_DOUBLE_EQ(below[i].box.y2, central[i].box.y2 + dy);
    }
  }
  EXPECT_GE(cases_with_below, 2);
  // Central slices: at least half the largest box's area.
  aggregate::Track t;
  t.boxes = {{0, {0, 0, 10, 10}, 1}, {1, {0, 0, 20, 20}, 1}, {2, {0, 0, 15, 15}, 1}};
  const auto central = aggregate::central_boxes(t);
  ASSERT_EQ(central.size(), 2u);
  EXPECT_EQ(central[0].slice, 1);
  EXPECT_EQ(central[1].slice, 2);
}

TEST(LevelNet, TrainsAndLoadsBackTheSameNet) {
  const auto& data = phantom_data();
  const LevelNetOptions o = small_net_options();
  TempDir tmp;
  const LevelNet net = LevelNet::train(data, o, tmp / "run");
  ASSERT_FALSE(net.empty());
  const auto column = ground_truth_column(data, 0);
  const auto& v = data.cases[0].normalized;
  const double lowest = net.logit(v, column.back().track);
  const double below = net.logit(v, one_step_below(column.back().track, column[column.size() - 2].track));
  EXPECT_TRUE(std::isfinite(lowest) && std::isfinite(below));
  EXPECT_TRUE(std::isnan(net.logit(v, aggregate::Track{})));  // no box, no answer
  net.save(tmp / "level_net.pt");
  const LevelNet back = LevelNet::load(tmp / "level_net.pt", net.spec());
  EXPECT_NEAR(back.logit(v, column.back().track), lowest, 1e-2);  // stored as float16
  EXPECT_EQ(back.spec()["crop"]["size"], 32);
  // The same seed trains the same net.
  EXPECT_NEAR(LevelNet::train(data, o, tmp / "again").logit(v, column.back().track), lowest, 1e-5);
  // A description without its crop recipe is refused with a one-line model error.
  EXPECT_THROW(LevelNet::load(tmp / "level_net.pt", nlohmann::json::object()), ModelError);
}

TEST(LevelNet, ReadsTheLowestBodyTwiceAndSaysWhenItLooksTransitional) {
  const auto& data = phantom_data();
  TempDir tmp;
  const LevelNet net = LevelNet::train(data, small_net_options(), tmp / "run");
  const auto labelled = ground_truth_column(data, 0);
  ASSERT_GE(labelled.size(), 3u);
  std::vector<aggregate::Track> column;
  for (const auto& t : labelled) column.push_back(t.track);
  const size_t n = column.size();
  const auto& v = data.cases[0].normalized;
  // Direct: the lowest body's own boxes. Projected: the box one step below the body above it,
  // made from the two bodies above. The level model gets their mean.
  const LowestBodyReading both = net.read_lowest(v, column);
  EXPECT_DOUBLE_EQ(both.direct, net.logit(v, column[n - 1]));
  EXPECT_DOUBLE_EQ(both.projected, net.logit(v, one_step_below(column[n - 2], column[n - 3])));
  EXPECT_DOUBLE_EQ(both.logit(), 0.5 * (both.direct + both.projected));
  // Two bodies give no projection: the direct reading alone; none gives nothing.
  const LowestBodyReading two = net.read_lowest(v, {column[n - 2], column[n - 1]});
  EXPECT_TRUE(std::isnan(two.projected));
  EXPECT_DOUBLE_EQ(two.logit(), both.direct);
  EXPECT_TRUE(std::isnan(net.read_lowest(v, {}).logit()));
  EXPECT_DOUBLE_EQ((LowestBodyReading{std::nan(""), -2.0}).logit(), -2.0);

  // Indecisive: under half the ceiling of a net trained with label smoothing 0.1
  // (log(0.95 / 0.05) / 2 = 1.47), on either side; NaN (no reading) is not.
  EXPECT_NEAR(net.ceiling(), std::log(0.95 / 0.05), 1e-12);
  EXPECT_TRUE(net.indecisive(1.4));
  EXPECT_TRUE(net.indecisive(-1.46));
  EXPECT_TRUE(net.indecisive(0.0));
  EXPECT_FALSE(net.indecisive(1.5));
  EXPECT_FALSE(net.indecisive(-2.9));
  EXPECT_FALSE(net.indecisive(std::nan("")));
  // The ceiling follows the net's own smoothing (0.3: log(0.85 / 0.15) / 2 = 0.87); a net
  // trained without smoothing has none, and the default's is used.
  net.save(tmp / "level_net.pt");
  auto spec = net.spec();
  spec["training"]["label_smoothing"] = 0.3;
  EXPECT_FALSE(LevelNet::load(tmp / "level_net.pt", spec).indecisive(1.0));
  EXPECT_TRUE(LevelNet::load(tmp / "level_net.pt", spec).indecisive(0.8));
  spec["training"]["label_smoothing"] = 0.0;
  EXPECT_TRUE(LevelNet::load(tmp / "level_net.pt", spec).indecisive(1.4));
}

TEST(LevelNet, AStoppedRunResumedTrainsTheSameNetAsAWholeOne) {
  // The net's draws are one random stream through the run (as before it had epochs): the
  // checkpoint keeps the stream, so resuming after the first of three epochs changes nothing.
  const auto& data = phantom_data();
  const LevelNetOptions o = small_net_options();
  TempDir tmp;
  const LevelNet whole = LevelNet::train(data, o, tmp / "whole");
  LevelNetOptions stopped = o;
  stopped.max_steps = 15;  // half way through the second epoch
  EXPECT_THROW(LevelNet::train(data, stopped, tmp / "part"), ConfigError);
  EXPECT_THROW(LevelNet::train(data, o, tmp / "part"), ConfigError);  // not over a run without resume
  const LevelNet resumed = LevelNet::train(data, o, tmp / "part", true);
  const auto column = ground_truth_column(data, 1);
  const auto& v = data.cases[1].normalized;
  EXPECT_DOUBLE_EQ(resumed.logit(v, column.back().track), whole.logit(v, column.back().track));
  const std::string log = spinescan::testing::read_file(tmp / "part" / "metrics.jsonl");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 3);  // one line per epoch, none twice
  // Steps that do not split into whole epochs are refused before any training.
  LevelNetOptions uneven = o;
  uneven.steps = 25;
  EXPECT_THROW(LevelNet::train(data, uneven, tmp / "uneven"), ConfigError);
}
