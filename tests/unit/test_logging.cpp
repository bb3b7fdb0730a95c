// LibraryOutputToLog (core/logging.h): what third-party code prints on descriptor 2 while one
// lives does not reach standard error, whichever way it is printed, and standard error is
// whole again afterwards.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <gtest/gtest.h>

#include "spinescan/core/logging.h"
#include "test_util.h"

using spinescan::testing::read_file;
using spinescan::testing::TempDir;

TEST(LibraryOutputToLog, CapturesCStdioStdCerrAndRawWritesAndRestoresStandardError) {
  TempDir tmp;
  const auto file = tmp / "stderr";
  const spinescan::LogLevel level = spinescan::log_level();
  spinescan::set_log_level(spinescan::LogLevel::quiet);
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int sink = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(sink, 0);
  ::dup2(sink, 2);
  ::close(sink);
  {
    const spinescan::LibraryOutputToLog capture;
    std::fprintf(stderr, "stdio: Expected a SOC marker\n");
    std::cerr << "cerr: suspicious return value (3) from SVDC\n";
    ASSERT_EQ(::write(2, "raw\n", 4), 4);
    {
      const spinescan::LibraryOutputToLog nested;  // a reader inside a reader
      std::fprintf(stderr, "nested\n");
    }
    std::fprintf(stderr, "after the nested one\n");
  }
  std::fprintf(stderr, "ours, after\n");
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  spinescan::set_log_level(level);
  EXPECT_EQ(read_file(file), "ours, after\n");
}
