// The classifier's training sampler: which vertebrae it draws, and how often each class.
#include <gtest/gtest.h>

#include <map>

#include "spinescan/classify/samples.h"
#include "spinescan/core/errors.h"

namespace {

using spinescan::Rng;
using spinescan::classify::Balance;
using spinescan::classify::ClassifierData;
using spinescan::classify::SampleDrawer;

// Site "a" holds both classes (3 pathological bodies, 1 healthy), site "b" only healthy
// bodies (4) -- the shape of SPIDER next to the Chu et al. volunteers.
ClassifierData two_sites() {
  ClassifierData d;
  d.cases.resize(2);
  d.cases[0].name = "a_1";
  d.cases[1].name = "b_1";
  auto add = [&](int case_index, int label, int target, int slices) {
    for (int s = 0; s < slices; ++s) {
      spinescan::classify::CropSample sample;
      sample.case_index = case_index;
      sample.label = label;
      sample.slice = s;
      sample.target = target;
      d.samples.push_back(sample);
    }
  };
  add(0, 1, 1, 3);
  add(0, 2, 1, 2);
  add(0, 3, 1, 4);
  add(0, 4, 0, 2);
  for (int label = 1; label <= 4; ++label) add(1, label, 0, 3);
  add(1, 5, -1, 5);  // unknown label: never drawn
  return d;
}

std::map<std::pair<std::string, int>, int> draw_counts(const ClassifierData& d, const SampleDrawer& drawer, int n) {
  Rng rng(7);
  std::map<std::pair<std::string, int>, int> counts;
  for (int i = 0; i < n; ++i) {
    const auto& s = d.samples[drawer.draw(rng)];
    EXPECT_GE(s.target, 0);
    ++counts[{d.cases[static_cast<size_t>(s.case_index)].name, s.target}];
  }
  return counts;
}

TEST(SampleDrawer, ClassBalanceMakesTheHealthyOnlySiteAShortcut) {
  const ClassifierData d = two_sites();
  const SampleDrawer drawer(d, Balance::kClass);
  EXPECT_EQ(drawer.vertebrae(1), 3u);
  EXPECT_EQ(drawer.vertebrae(0), 5u);
  const auto c = draw_counts(d, drawer, 20000);
  // Half the draws pathological (all from site a); healthy draws are 4/5 site b.
  EXPECT_NEAR(c.at({"a_1", 1}) / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(c.at({"b_1", 0}) / 20000.0, 0.4, 0.02);
  EXPECT_NEAR(c.at({"a_1", 0}) / 20000.0, 0.1, 0.02);
}

TEST(SampleDrawer, WithinSourceBalanceDrawsBothClassesEquallyInsideEachSite) {
  const ClassifierData d = two_sites();
  const SampleDrawer drawer(d, Balance::kWithinSource);
  EXPECT_EQ(drawer.sources_used(), std::vector<std::string>{"a"});
  EXPECT_EQ(drawer.sources_left_out(), std::vector<std::string>{"b"});
  EXPECT_EQ(drawer.vertebrae(0), 1u);
  const auto c = draw_counts(d, drawer, 20000);
  EXPECT_EQ(c.count({"b_1", 0}), 0u);
  EXPECT_NEAR(c.at({"a_1", 1}) / 20000.0, 0.5, 0.02);
  EXPECT_NEAR(c.at({"a_1", 0}) / 20000.0, 0.5, 0.02);
}

TEST(SampleDrawer, SameSeedSameDraws) {
  const ClassifierData d = two_sites();
  const SampleDrawer drawer(d, Balance::kWithinSource);
  Rng r1(3), r2(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(drawer.draw(r1), drawer.draw(r2));
}

TEST(SampleDrawer, RefusesWhatCannotBeBalanced) {
  ClassifierData d = two_sites();
  for (auto& s : d.samples)
    if (s.case_index == 0) s.target = 0;  // now no site holds both classes
  EXPECT_THROW(SampleDrawer(d, Balance::kWithinSource), spinescan::DataError);
  EXPECT_NO_THROW(SampleDrawer(d, Balance::kClass));
  for (auto& s : d.samples) s.target = -1;
  EXPECT_THROW(SampleDrawer(d, Balance::kClass), spinescan::DataError);
  EXPECT_THROW(spinescan::classify::balance_from_string("sites"), spinescan::ConfigError);
  EXPECT_EQ(spinescan::classify::balance_from_string("within-source"), Balance::kWithinSource);
}

}  // namespace
