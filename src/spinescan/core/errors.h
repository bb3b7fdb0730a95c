#pragma once
// Typed exceptions. Library code throws; only the CLI turns them into an exit code and a
// one-line message. Never print-and-continue, never assert on input.
#include <sstream>
#include <stdexcept>
#include <string>

namespace spinescan {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Bad input data: unreadable files, wrong geometry, inconsistent labels.
struct DataError : Error {
  using Error::Error;
};
// Bad configuration: flags, JSON options out of range.
struct ConfigError : Error {
  using Error::Error;
};
// Model bundle or checkpoint problems.
struct ModelError : Error {
  using Error::Error;
};
// Ctrl-C in work that has no partial result to return (what was saved is in the message).
struct Interrupted : Error {
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace spinescan

// SPINESCAN_CHECK(cond, ErrorType, parts...): throws ErrorType with the concatenated parts.
#define SPINESCAN_CHECK_AS(cond, ErrorType, ...)                                  \
  do {                                                                            \
    if (!(cond)) throw ErrorType(::spinescan::detail::concat(__VA_ARGS__));       \
  } while (0)
#define SPINESCAN_CHECK(cond, ...) SPINESCAN_CHECK_AS(cond, ::spinescan::DataError, __VA_ARGS__)
