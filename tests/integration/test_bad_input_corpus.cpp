// Issue 20, section 3: every command that reads a study refuses each input of the bad-input
// corpus (tests/bad_input_corpus.h) with exit 1, one line naming the file and the fault, no
// library noise and no output left behind.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bad_input_corpus.h"
#include "test_util.h"

using spinescan::testing::read_file;
using spinescan::testing::Result;
using spinescan::testing::run_cli;
using spinescan::testing::TempDir;
using spinescan::testing::write_bad_input_corpus;
using spinescan::testing::write_file;

namespace {

int lines_of(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(BadInputCorpus, InfoAndDetectRefuseEachInputInOneLineAndWriteNothing) {
  TempDir tmp;
  const auto corpus = write_bad_input_corpus(tmp / "corpus");
  ASSERT_GE(corpus.size(), 30u);
  for (size_t i = 0; i < corpus.size(); ++i) {
    const auto& bad = corpus[i];
    // With --keep-identifiers the message names the file; by default "the study".
    const Result info = run_cli("info --keep-identifiers " + bad.path.string());
    EXPECT_EQ(info.exit_code, 1) << bad.name << "\n" << info.out << info.err;
    EXPECT_EQ(lines_of(info.err), 1) << bad.name << "\n" << info.err;
    EXPECT_EQ(info.err.rfind("spinescan: error: ", 0), 0u) << bad.name << "\n" << info.err;
    EXPECT_NE(info.err.find(bad.name), std::string::npos) << bad.name << "\n" << info.err;
    EXPECT_NE(info.err.find(bad.fault), std::string::npos) << bad.name << ": '" << bad.fault << "' not in\n" << info.err;
    const std::string out = (tmp / ("detect_" + std::to_string(i))).string();
    const Result detect = run_cli("detect " + bad.path.string() + " --out " + out);
    EXPECT_EQ(detect.exit_code, 1) << bad.name << "\n" << detect.err;
    EXPECT_EQ(lines_of(detect.err), 1) << bad.name << "\n" << detect.err;
    EXPECT_EQ(detect.err.rfind("spinescan: error: the study: ", 0), 0u) << bad.name << "\n" << detect.err;
    EXPECT_NE(detect.err.find(bad.fault), std::string::npos) << bad.name << "\n" << detect.err;
    EXPECT_EQ(detect.err.find(bad.name), std::string::npos) << "a file name is an identifier: " << detect.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << bad.name << ": detect left " << out;
  }
}

TEST(BadInputCorpus, AnalyzeRefusesEachInputOfABatchInOneLineAndWritesNoReportForIt) {
  TempDir tmp;
  const auto corpus = write_bad_input_corpus(tmp / "corpus");
  std::string studies;
  for (const auto& bad : corpus) studies += " " + bad.path.string();
  const Result r = run_cli("-q analyze" + studies + " --out " + (tmp / "reports").string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(lines_of(r.err), static_cast<int>(corpus.size())) << r.err;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const std::string label = "spinescan: error: study " + std::to_string(i + 1) + ": ";
    const size_t at = r.err.find(label);
    ASSERT_NE(at, std::string::npos) << corpus[i].name << "\n" << r.err;
    const std::string line = r.err.substr(at, r.err.find('\n', at) - at);
    EXPECT_NE(line.find(corpus[i].fault), std::string::npos) << corpus[i].name << ": " << line;
    char folder[32];
    std::snprintf(folder, sizeof folder, "study_%03zu", i + 1);
    EXPECT_FALSE(std::filesystem::exists(tmp / "reports" / folder)) << corpus[i].name;
  }
  EXPECT_NE(r.out.find("0 of " + std::to_string(corpus.size()) + " studies analysed"), std::string::npos) << r.out;
}

TEST(BadInputCorpus, DatasetCheckNamesEveryBadCaseAndEvaluateRefusesInOneLine) {
  // A dataset whose cases are the corpus's single files (a case's image is one file).
  TempDir tmp;
  const auto corpus = write_bad_input_corpus(tmp / "ds/corpus");
  nlohmann::json cases = nlohmann::json::array();
  std::string csv = "case,label,level,pathological,findings,source_note\n";
  std::vector<std::string> names;
  for (const auto& bad : corpus) {
    if (std::filesystem::is_directory(bad.path)) continue;
    std::string name = "bad_" + std::to_string(names.size());
    names.push_back(name);
    cases.push_back({{"case", name}, {"image", "corpus/" + bad.name}, {"labels", "corpus/" + bad.name}});
    csv += name + ",1,L3,0,,\n";
  }
  ASSERT_GE(names.size(), 20u);
  write_file(tmp / "ds/dataset.json", nlohmann::json{{"name", "bad inputs"}, {"cases", cases}}.dump(2));
  write_file(tmp / "ds/vertebrae.csv", csv);
  const Result check = run_cli("dataset check " + (tmp / "ds").string());
  EXPECT_EQ(check.exit_code, 1) << check.out << check.err;
  for (const auto& name : names) EXPECT_NE(check.out.find(name + ":"), std::string::npos) << name << "\n" << check.out;
  nlohmann::json split = {{"seed", 0}, {"folds", nlohmann::json::array()}};
  split["folds"].push_back({{"train", nlohmann::json::array()}, {"val", names}});
  write_file(tmp / "split.json", split.dump());
  const Result eval = run_cli("-q evaluate --data " + (tmp / "ds").string() + " --split " + (tmp / "split.json").string() +
                              " --fold 0 --out " + (tmp / "eval").string());
  EXPECT_EQ(eval.exit_code, 1) << eval.out << eval.err;
  EXPECT_EQ(lines_of(eval.err), 1) << eval.err;
  EXPECT_EQ(eval.err.rfind("spinescan: error: ", 0), 0u) << eval.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "eval")) << "evaluate left a partial output";
  // A folder that holds no earlier evaluation is never replaced.
  std::filesystem::create_directories(tmp / "mine");
  write_file(tmp / "mine/notes.txt", "keep me");
  const Result into_mine = run_cli("-q evaluate --data " + (tmp / "ds").string() + " --split " + (tmp / "split.json").string() +
                                   " --fold 0 --out " + (tmp / "mine").string());
  EXPECT_EQ(into_mine.exit_code, 2) << into_mine.err;
  EXPECT_EQ(read_file(tmp / "mine/notes.txt"), "keep me");
}
