#include <gtest/gtest.h>

#include <map>
#include <set>

#include "spinescan/core/errors.h"
#include "spinescan/data/splits.h"

using namespace spinescan;

namespace {

void make_cases(int n, int positives, std::vector<std::string>* names, std::vector<bool>* strata) {
  for (int i = 0; i < n; ++i) {
    names->push_back("case_" + std::to_string(i));
    strata->push_back(i < positives);
  }
}

}  // namespace

TEST(Splits, EveryCaseIsValidatedExactlyOnceAndNeverTrainedOnInItsFold) {
  std::vector<std::string> names;
  std::vector<bool> strata;
  make_cases(47, 30, &names, &strata);
  const Splits s = make_splits(names, strata, 5, 3);
  ASSERT_EQ(s.folds.size(), 5u);
  std::map<std::string, int> times_validated;
  for (const Fold& f : s.folds) {
    const std::set<std::string> val(f.val.begin(), f.val.end());
    for (const auto& c : f.train) EXPECT_FALSE(val.count(c)) << c;
    EXPECT_EQ(f.train.size() + f.val.size(), names.size());
    for (const auto& c : f.val) ++times_validated[c];
  }
  ASSERT_EQ(times_validated.size(), names.size());
  for (const auto& [c, n] : times_validated) EXPECT_EQ(n, 1) << c;
}

TEST(Splits, StrataAndFoldSizesAreBalanced) {
  std::vector<std::string> names;
  std::vector<bool> strata;
  make_cases(47, 30, &names, &strata);
  const Splits s = make_splits(names, strata, 5, 9);
  std::vector<size_t> sizes, positives;
  for (const Fold& f : s.folds) {
    sizes.push_back(f.val.size());
    size_t p = 0;
    for (const auto& c : f.val) p += std::stoi(c.substr(5)) < 30;
    positives.push_back(p);
  }
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()) - *std::min_element(sizes.begin(), sizes.end()), 1u);
  // 30 positives over 5 folds: exactly 6 each.
  for (size_t p : positives) EXPECT_EQ(p, 6u);
}

TEST(Splits, SameSeedSameSplitsWhateverTheInputOrder) {
  std::vector<std::string> names;
  std::vector<bool> strata;
  make_cases(20, 8, &names, &strata);
  const Splits a = make_splits(names, strata, 4, 42);
  std::reverse(names.begin(), names.end());
  std::reverse(strata.begin(), strata.end());
  const Splits b = make_splits(names, strata, 4, 42);
  EXPECT_EQ(a.to_json(), b.to_json());
  const Splits c = make_splits(names, strata, 4, 43);
  EXPECT_NE(a.to_json()["folds"], c.to_json()["folds"]);
}

TEST(Splits, JsonRoundTrip) {
  std::vector<std::string> names;
  std::vector<bool> strata;
  make_cases(10, 4, &names, &strata);
  const Splits a = make_splits(names, strata, 2, 1);
  const Splits b = Splits::from_json(a.to_json(), "test");
  EXPECT_EQ(b.to_json(), a.to_json());
  EXPECT_THROW(Splits::from_json(nlohmann::json{{"folds", 3}}, "test"), DataError);
}

TEST(Splits, ImpossibleFoldCountsAreConfigErrors) {
  std::vector<std::string> names;
  std::vector<bool> strata;
  make_cases(3, 1, &names, &strata);
  EXPECT_THROW(make_splits(names, strata, 1, 0), ConfigError);
  EXPECT_THROW(make_splits(names, strata, 4, 0), ConfigError);
  EXPECT_NO_THROW(make_splits(names, strata, 3, 0));
}

TEST(Splits, LeavingOneSourceOutHoldsOutEachSourceWhole) {
  const std::vector<std::string> names = {"b_2", "a_1", "b_1", "a_2", "a_3"};
  const std::vector<std::string> sources = {"b", "a", "b", "a", "a"};
  const Splits s = make_source_splits(names, sources);
  ASSERT_EQ(s.folds.size(), 2u);
  EXPECT_EQ(s.folds[0].val, (std::vector<std::string>{"a_1", "a_2", "a_3"}));
  EXPECT_EQ(s.folds[0].train, (std::vector<std::string>{"b_1", "b_2"}));
  EXPECT_EQ(s.folds[1].val, s.folds[0].train);
  // The file says how its folds were dealt, and reads back the same.
  EXPECT_EQ(Splits::from_json(s.to_json(), "test").to_json(), s.to_json());
  EXPECT_NE(s.to_json()["stratified_by"].get<std::string>().find("source"), std::string::npos);
  EXPECT_THROW(make_source_splits({"a_1", "a_2"}, {"a", "a"}), ConfigError);
}
