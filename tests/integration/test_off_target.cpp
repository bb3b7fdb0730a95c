// `analyze` refuses what it was not made for: the studies of `synth off-target` end "not
// analysed" (or as a read error) with exit 1, no vertebra reported; a lumbar example does not.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "spinescan/data/csv.h"
#include "test_util.h"

using spinescan::testing::read_file;
using spinescan::testing::Result;
using spinescan::testing::run_cli;
using spinescan::testing::TempDir;

namespace {

std::vector<std::pair<std::string, std::string>> index_of(const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, std::string>> out;  // file, refused_by
  const auto rows = spinescan::parse_csv(read_file(dir / "off_target.csv"), "off_target.csv");
  EXPECT_EQ(rows.at(0), (spinescan::CsvRow{"file", "what", "refused_by"}));
  for (size_t i = 1; i < rows.size(); ++i) out.emplace_back(rows[i].at(0), rows[i].at(2));
  return out;
}

}  // namespace

TEST(OffTarget, SameSeedSameBytes) {
  TempDir tmp;
  ASSERT_EQ(run_cli("synth off-target --out " + (tmp / "a").string() + " --seed 4").exit_code, 0);
  ASSERT_EQ(run_cli("synth off-target --out " + (tmp / "b").string() + " --seed 4").exit_code, 0);
  ASSERT_EQ(run_cli("synth off-target --out " + (tmp / "c").string() + " --seed 5").exit_code, 0);
  const auto files = index_of(tmp / "a");
  ASSERT_GE(files.size(), 13u);
  int differ = 0;
  for (const auto& [file, by] : files) {
    EXPECT_EQ(read_file(tmp / "a" / file), read_file(tmp / "b" / file)) << file;
    differ += read_file(tmp / "a" / file) != read_file(tmp / "c" / file);
  }
  EXPECT_EQ(differ, static_cast<int>(files.size())) << "another seed, other studies";
  const Result again = run_cli("synth off-target --out " + (tmp / "a").string());
  EXPECT_EQ(again.exit_code, 2) << "an existing folder is not replaced without --overwrite: " << again.err;
}

TEST(OffTarget, EveryStudyIsRefusedWithExitOneAndNoVertebra) {
  TempDir tmp;
  ASSERT_EQ(run_cli("synth off-target --out " + (tmp / "set").string() + " --seed 1").exit_code, 0);
  const auto files = index_of(tmp / "set");
  std::string studies;
  for (const auto& [file, by] : files) studies += " " + (tmp / "set" / file).string();
  const Result r = run_cli("-q --threads 2 analyze" + studies + " --out " + (tmp / "reports").string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // Reports are numbered in the order the studies were given (study_001, ...), and messages
  // name a study by its number, never by its file name.
  const auto& order = files;
  const auto number_of = [](size_t i) {
    char name[16];
    std::snprintf(name, sizeof name, "%03zu", i + 1);
    return std::string(name);
  };
  EXPECT_NE(r.out.find("0 of " + std::to_string(files.size()) + " studies analysed"), std::string::npos) << r.out << r.err;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& [file, by] = order[i];
    EXPECT_EQ(r.err.find(file), std::string::npos) << "a file name is no report's or message's name:\n" << r.err;
    EXPECT_TRUE(by == "read" || by == "fitness") << file << ": " << by;
    const std::string label = "study " + std::to_string(i + 1) + ": ";
    const std::filesystem::path folder = tmp / "reports" / ("study_" + number_of(i));
    const std::filesystem::path report = folder / "report.json";
    if (by == "read") {
      EXPECT_FALSE(std::filesystem::exists(report)) << file << ": a file that cannot be read gets no report";
      EXPECT_NE(r.err.find(label + "truncated"), std::string::npos) << file << "\n" << r.err;
      continue;
    }
    ASSERT_TRUE(std::filesystem::exists(report)) << file << "\n" << r.err;
    const auto j = nlohmann::json::parse(read_file(report));
    EXPECT_EQ(j["status"], "not analysed") << file << ": " << j.dump();
    EXPECT_TRUE(j["not_analysed_because"].is_string()) << file;
    EXPECT_TRUE(j["vertebrae"].empty()) << file;
    EXPECT_NE(read_file(folder / "report.html").find("not analysed"), std::string::npos) << file;
    EXPECT_NE(r.err.find(label + "not analysed: " + j["not_analysed_because"].get<std::string>()), std::string::npos)
        << file << "\n" << r.err;
  }
  // One line per refused study on stderr, nothing else.
  int lines = 0;
  for (char c : r.err) lines += c == '\n';
  EXPECT_EQ(lines, static_cast<int>(files.size())) << r.err;
}

TEST(OffTarget, TheBundledLumbarExampleIsNotRefused) {
  TempDir tmp;
  const Result r = run_cli("--threads 2 analyze " + std::string(SPINESCAN_SOURCE_DIR) + "/examples/phantom_study.nii.gz --out " +
                           (tmp / "report").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(tmp / "report" / "report.json"));
  EXPECT_EQ(j["status"], "analysed");
  EXPECT_GE(j["vertebrae"].size(), 3u);
  EXPECT_EQ(j["column"]["num_bodies"], j["vertebrae"].size());
}
