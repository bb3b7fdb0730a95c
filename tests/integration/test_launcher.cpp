// The `spinescan` launcher (apps/spinescan/launcher.c): it starts spinescan-core from its own
// folder with glibc's malloc on huge pages, passes the arguments and the exit status through,
// keeps the user's other tunables and a hugetlb setting of their own, and says in one line
// when there is nothing to start; and the program it starts loads none of the libraries
// libtorch_cpu lists but never calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "test_util.h"

using spinescan::testing::command_output;
using spinescan::testing::TempDir;
using spinescan::testing::write_file;

namespace fs = std::filesystem;

namespace {

// A copy of the launcher in a folder of its own, beside a spinescan-core that prints its
// GLIBC_TUNABLES and arguments, one per line, and exits with status 7.
struct LauncherFolder {
  TempDir tmp;
  fs::path launcher = tmp / "spinescan";
  LauncherFolder(bool with_core = true) {
    fs::copy_file(SPINESCAN_BINARY, launcher);
    if (!with_core) return;
    write_file(tmp / "spinescan-core",
               "#!/bin/sh\necho \"tunables=${GLIBC_TUNABLES-unset}\"\nfor a in \"$@\"; do echo \"arg=$a\"; done\nexit 7\n");
    fs::permissions(tmp / "spinescan-core", fs::perms::owner_all);
  }
  std::string run(const std::string& env, int* status) const {
    return command_output("env -u GLIBC_TUNABLES " + env + " " + launcher.string() + " analyze 'two words' --out x", status);
  }
};

}  // namespace

TEST(Launcher, StartsTheCoreWithHugePageMallocAndPassesArgumentsAndStatusThrough) {
  LauncherFolder folder;
  int status = -1;
  EXPECT_EQ(folder.run("", &status), "tunables=glibc.malloc.hugetlb=1\narg=analyze\narg=two words\narg=--out\narg=x\n");
  EXPECT_EQ(status, 7);
  // The user's own tunables stay, and their own hugetlb choice wins.
  auto first_line = [](const std::string& text) { return text.substr(0, text.find('\n')); };
  EXPECT_EQ(first_line(folder.run("GLIBC_TUNABLES=glibc.malloc.arena_max=2", &status)),
            "tunables=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
  EXPECT_EQ(first_line(folder.run("GLIBC_TUNABLES=glibc.malloc.hugetlb=0", &status)), "tunables=glibc.malloc.hugetlb=0");
}

TEST(Launcher, WithoutTheCoreBesideItSaysSoInOneLine) {
  LauncherFolder folder(/*with_core=*/false);
  int status = -1;
  const std::string out = folder.run("", &status);
  EXPECT_EQ(status, 3);
  EXPECT_EQ(out.find("spinescan: error: cannot start "), 0u) << out;
  EXPECT_NE(out.find("spinescan-core"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Launcher, TheBuiltCoreRunsThroughIt) {
  int status = -1;
  const std::string out = command_output(std::string(SPINESCAN_BINARY) + " --version", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out.rfind("spinescan ", 0), 0u) << out;
}

// The program runs against the build's copy of libtorch_cpu without the libraries Debian's
// build lists but never calls (cmake/trim_libtorch.cmake): loading them was a third of every
// process start. Fails when the copy is no longer made (patchelf gone from setup, say) or no
// longer loaded (the run path lost), and if any of those libraries is loaded again.
TEST(Launcher, TheCoreLoadsNoneOfTheLibrariesLibtorchNeverCalls) {
  const std::string state = SPINESCAN_LIBTORCH_TRIM_STATE;
  if (state == "off" || state == "nothing to remove") GTEST_SKIP() << "libtorch_cpu trimming: " << state;
  ASSERT_EQ(state, "trimmed") << "configure made no trimmed libtorch_cpu; scripts/setup.sh installs patchelf";
  int status = -1;
  // The loader's own account of each library it maps, through the launcher as a user runs it.
  const std::string out = command_output("LD_DEBUG=files " + std::string(SPINESCAN_BINARY) + " --version", &status);
  EXPECT_EQ(status, 0) << out.substr(0, 2000);
  const std::string copy = std::string(SPINESCAN_TRIMMED_LIBTORCH_DIR) + "/libtorch_cpu.so";
  EXPECT_NE(out.find("needed by " + copy), std::string::npos) << "the copy is not the libtorch_cpu loaded";
  for (const char* library : {"file=libopencv_core.", "file=libavcodec.", "file=libzmq.", "file=libleveldb."})
    EXPECT_EQ(out.find(library), std::string::npos) << library;
  // Without the copy (the system library found first) the same check sees them: the check can fail.
  const std::string stock = command_output("LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu LD_DEBUG=files " +
                                           std::string(SPINESCAN_BINARY) + " --version");
  EXPECT_NE(stock.find("file=libopencv_core."), std::string::npos);
}
