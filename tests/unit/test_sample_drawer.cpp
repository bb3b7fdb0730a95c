// The classifier's training sampler: which vertebrae it draws, and how often each class.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "spinescan/classify/samples.h"
#include "spinescan/classify/train.h"
#include "spinescan/data/dataset.h"
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

TEST(SampleDrawer, ByFindingTeachesARareFindingAsOftenAsACommonOne) {
  // Site a's pathological bodies: two spondylodiscitis (1, 2), one metastasis (3). By body,
  // the metastasis is a third of the pathological draws; by finding, half.
  ClassifierData d = two_sites();
  for (auto& s : d.samples)
    if (s.case_index == 0 && s.target == 1) s.finding = s.label == 3 ? "metastasis" : "spondylodiscitis";
  auto metastasis_share = [&](const SampleDrawer& drawer) {
    Rng rng(11);
    int pathological = 0, metastasis = 0;
    for (int i = 0; i < 30000; ++i) {
      const auto& s = d.samples[drawer.draw(rng)];
      pathological += s.target == 1;
      metastasis += s.finding == "metastasis";
    }
    EXPECT_NEAR(pathological / 30000.0, 0.5, 0.02) << "the class balance stays";
    return static_cast<double>(metastasis) / pathological;
  };
  for (Balance b : {Balance::kClass, Balance::kWithinSource}) {
    EXPECT_NEAR(metastasis_share(SampleDrawer(d, b)), 1.0 / 3, 0.02);
    EXPECT_NEAR(metastasis_share(SampleDrawer(d, b, true)), 0.5, 0.02);
    EXPECT_EQ(SampleDrawer(d, b, true).vertebrae(1), SampleDrawer(d, b).vertebrae(1));
  }
  // With one finding only, by finding draws exactly what the plain drawer draws: runs trained
  // before the option repeat.
  for (auto& s : d.samples) s.finding.clear();
  const SampleDrawer plain(d, Balance::kWithinSource), by_finding(d, Balance::kWithinSource, true);
  Rng r1(4), r2(4);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(plain.draw(r1), by_finding.draw(r2));
}

TEST(InnerValidation, KeepsItsSizeWhenFewCasesAreWithoutAFinding) {
  // A painted dataset: 9 cases with a finding, 1 without. Asked for 6, the inner validation
  // takes 3 with a finding, the one without, and 2 more with one; none of them trains.
  spinescan::Dataset d;
  std::vector<std::string> cases;
  for (int i = 0; i < 10; ++i) {
    const std::string name = "p_" + std::to_string(i);
    cases.push_back(name);
    spinescan::VertebraRow row;
    row.case_name = name;
    row.label = 1;
    row.pathological = i != 0;
    d.vertebrae.push_back(row);
  }
  const auto [train, val] = spinescan::classify::split_inner(d, cases, 6, 3);
  EXPECT_EQ(val.size(), 6u);
  EXPECT_EQ(train.size(), 4u);
  EXPECT_NE(std::find(val.begin(), val.end(), "p_0"), val.end()) << "the case without a finding validates";
  for (const auto& c : val) EXPECT_EQ(std::find(train.begin(), train.end(), c), train.end()) << c;
  // At most all but one: something must be left to train on.
  EXPECT_EQ(spinescan::classify::split_inner(d, cases, 50, 3).second.size(), 9u);
}

TEST(WithinSourceWeights, EverySourceShowsTheLabelAtThePooledRate) {
  // Site a: 3 positives, 1 negative; site b: 1 positive, 3 negatives; site c: healthy only.
  const std::vector<int> y = {1, 1, 1, 0, 1, 0, 0, 0, 0, 0};
  const std::vector<std::string> s = {"a", "a", "a", "a", "b", "b", "b", "b", "c", "c"};
  std::vector<std::string> single;
  const auto w = spinescan::classify::within_source_weights(y, s, &single);
  ASSERT_EQ(w.size(), y.size());
  const double pooled = 4.0 / 10;
  for (const std::string site : {"a", "b"}) {
    double total = 0, positive = 0;
    for (size_t i = 0; i < y.size(); ++i)
      if (s[i] == site) total += w[i], positive += y[i] * w[i];
    EXPECT_NEAR(total, 4.0, 1e-6) << site;  // the source keeps its row count as weight
    EXPECT_NEAR(positive / total, pooled, 1e-6) << site;
  }
  EXPECT_FLOAT_EQ(w[8], 1.0f);  // nothing to balance in a single-class source
  EXPECT_EQ(single, std::vector<std::string>{"c"});
  EXPECT_THROW(spinescan::classify::within_source_weights({2}, {"a"}), spinescan::Error);
}

TEST(SampleDrawer, NeverDrawsASliceItsPaintedLesionLeftUnchanged) {
  // Site a's pathological body 1 shows its lesion on slices 2 and 3 only: slices 0 and 1 are
  // not drawn, though the body (and its other slices) is.
  ClassifierData d = two_sites();
  d.samples[0].lesion_visible = false;
  d.samples[1].lesion_visible = false;
  for (Balance b : {Balance::kClass, Balance::kWithinSource}) {
    const SampleDrawer drawer(d, b);
    Rng rng(5);
    std::map<size_t, int> drawn;
    for (int i = 0; i < 3000; ++i) ++drawn[drawer.draw(rng)];
    EXPECT_EQ(drawn.count(0), 0u);
    EXPECT_EQ(drawn.count(1), 0u);
    EXPECT_GT(drawn[2], 0) << "the body's visible slice is drawn";
  }
}

TEST(SampleDrawer, AnotherPaintingOfTheSameCasesAddsItsBodiesAsVertebraeOfTheirOwn) {
  ClassifierData d = two_sites();
  ClassifierData repainted = two_sites();
  // The second painting left a_1's body 4 unpainted too, but painted b_1's body 1.
  for (auto& s : repainted.samples)
    if (s.case_index == 1 && s.label == 1) s.target = 1;
  const size_t samples_before = d.samples.size();
  spinescan::classify::append_classifier_data(d, repainted);
  ASSERT_EQ(d.cases.size(), 4u);
  EXPECT_EQ(d.cases[2].name, "a_1");
  EXPECT_EQ(d.cases[3].name, "b_1");
  ASSERT_EQ(d.samples.size(), 2 * samples_before);
  for (size_t i = samples_before; i < d.samples.size(); ++i) {
    const auto& original = repainted.samples[i - samples_before];
    EXPECT_EQ(d.samples[i].case_index, original.case_index + 2);  // each points at its own copy of the case
    EXPECT_EQ(d.samples[i].label, original.label);
    EXPECT_EQ(d.samples[i].target, original.target);
  }
  // Same-named cases are counted once per copy: 3 + 4 pathological, 5 + 4 healthy.
  const SampleDrawer drawer(d, Balance::kClass);
  EXPECT_EQ(drawer.vertebrae(1), 7u);
  EXPECT_EQ(drawer.vertebrae(0), 9u);
  // Within source, site b now holds both classes and is drawn from.
  EXPECT_TRUE(SampleDrawer(d, Balance::kWithinSource).sources_left_out().empty());
}
