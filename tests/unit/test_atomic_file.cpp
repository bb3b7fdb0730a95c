// Files and folders appear whole or not at all, and a replaced folder leaves nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(StagedDirectory, ReplacingAFolderSwapsItWholeAndLeavesNoSibling) {
  const testing::TempDir tmp;
  const fs::path target = tmp.path() / "report";
  {
    StagedDirectory first(target, true);
    write_text_atomically(first.path() / "report.json", "old\n");
    write_text_atomically(first.path() / "only_in_old.txt", "x\n");
    first.commit();
  }
  EXPECT_EQ(slurp(target / "report.json"), "old\n");
  {
    StagedDirectory second(target, true);
    write_text_atomically(second.path() / "report.json", "new\n");
    // Until commit, the old report is untouched.
    EXPECT_EQ(slurp(target / "report.json"), "old\n");
    second.commit();
  }
  EXPECT_EQ(slurp(target / "report.json"), "new\n");
  EXPECT_FALSE(fs::exists(target / "only_in_old.txt"));
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"report"});  // no .old-, .partial- or .tmp- left
  EXPECT_EQ(entries(target), std::vector<std::string>{"report.json"});
}

TEST(StagedDirectory, AbandonedBeforeCommitLeavesTheOldFolderAsItWas) {
  const testing::TempDir tmp;
  const fs::path target = tmp.path() / "out";
  fs::create_directories(target);
  std::ofstream(target / "a.txt") << "kept";
  {
    StagedDirectory staged(target, true);
    write_text_atomically(staged.path() / "a.txt", "lost");
  }  // no commit: as if the writer failed
  EXPECT_EQ(slurp(target / "a.txt"), "kept");
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"out"});
}

TEST(StagedDirectory, ASwapThatFailsKeepsTheOldFolder) {
  const testing::TempDir tmp;
  const fs::path target = tmp.path() / "report";
  fs::create_directories(target);
  std::ofstream(target / "report.json") << "old";
  StagedDirectory staged(target, true);
  fs::remove_all(staged.path());  // the new folder is gone: renaming it onto the target fails
  EXPECT_THROW(staged.commit(), std::exception);
  EXPECT_EQ(slurp(target / "report.json"), "old");  // deleting first would have lost it
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"report"});
}

TEST(StagedDirectory, ANonEmptyFolderIsNotReplacedWithoutOverwrite) {
  const testing::TempDir tmp;
  fs::create_directories(tmp.path() / "busy");
  std::ofstream(tmp.path() / "busy" / "mine.txt") << "user data";
  EXPECT_THROW(StagedDirectory(tmp.path() / "busy", false), ConfigError);
  EXPECT_EQ(slurp(tmp.path() / "busy" / "mine.txt"), "user data");
}

TEST(WriteTextAtomically, ReplacesWholeAndLeavesNoTemporary) {
  const testing::TempDir tmp;
  write_text_atomically(tmp.path() / "m.json", "{\"a\": 1}\n");
  write_text_atomically(tmp.path() / "m.json", "{\"a\": 2}\n");
  EXPECT_EQ(slurp(tmp.path() / "m.json"), "{\"a\": 2}\n");
  EXPECT_EQ(entries(tmp.path()), std::vector<std::string>{"m.json"});
}

TEST(RemoveInterruptedTemporaries, RemovesTheTemporariesAKillLeftAndNothingElse) {
  // A kill between write and rename leaves temporary_sibling's file; the next run in that folder
  // removes it, in subfolders too, and keeps every other file, hidden or named alike.
  const testing::TempDir tmp;
  fs::create_directories(tmp.path() / "best");
  const fs::path left_top = temporary_sibling(tmp.path() / "config.json");
  const fs::path left_sub = temporary_sibling(tmp.path() / "best" / "detector.pt");
  for (const fs::path& p : {left_top, left_sub, tmp.path() / "config.json", tmp.path() / ".hidden",
                            tmp.path() / "best" / "notes.tmp-1.txt"})
    std::ofstream(p) << "x";
  remove_interrupted_temporaries(tmp.path());
  EXPECT_FALSE(fs::exists(left_top));
  EXPECT_FALSE(fs::exists(left_sub));
  EXPECT_EQ(entries(tmp.path()), (std::vector<std::string>{".hidden", "best", "config.json"}));
  EXPECT_EQ(entries(tmp.path() / "best"), std::vector<std::string>{"notes.tmp-1.txt"});
  remove_interrupted_temporaries(tmp.path() / "absent");  // a run folder not made yet: nothing to do
}

}  // namespace
}  // namespace spinescan
