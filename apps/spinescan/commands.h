#pragma once
// Each sub-command registers its flags on the CLI and sets `run` to its body; main() parses,
// configures threads and logging, calls the chosen command and maps exceptions to exit codes.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace spinescan::cli {

// Exit codes: 0 success, 1 a problem with the input (data, files) or findings reported by a
// check, 2 bad usage or configuration, 3 an internal error.
enum ExitCode { kOk = 0, kDataProblem = 1, kUsage = 2, kInternal = 3 };

using Runner = std::function<int()>;
// The shipped model bundle: $SPINESCAN_MODEL, ./models/default, or models/default beside the program.
std::string default_model_path();
void register_info(CLI::App& app, Runner& run);
void register_synth(CLI::App& app, Runner& run);
void register_dataset(CLI::App& app, Runner& run);
void register_train(CLI::App& app, Runner& run);
void register_evaluate(CLI::App& app, Runner& run);
void register_detect(CLI::App& app, Runner& run);
void register_model(CLI::App& app, Runner& run);
void register_tune(CLI::App& app, Runner& run);
void register_analyze(CLI::App& app, Runner& run);

}  // namespace spinescan::cli
