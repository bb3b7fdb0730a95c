#pragma once
// Each sub-command registers its flags on the CLI and sets `run` to its body; main() parses,
// configures threads and logging, calls the chosen command and maps exceptions to exit codes.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "spinescan/core/errors.h"
#include "spinescan/core/safe_name.h"

namespace spinescan::cli {

// Exit codes: 0 success, 1 a problem with the input (data, files) or findings reported by a
// check, 2 bad usage or configuration, 3 an internal error.
// kInterrupted: Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
enum ExitCode { kOk = 0, kDataProblem = 1, kUsage = 2, kInternal = 3, kInterrupted = 130 };

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

// One line of binary metrics (eval::BinaryMetrics::to_json), the name padded to `width`;
// a missing AUC (one class only) prints as "-".
inline void print_metrics_line(const std::string& name, const nlohmann::json& m, int width = 24) {
  char auc[16] = "  -  ";
  if (!m["auc"].is_null()) std::snprintf(auc, sizeof auc, "%.3f", m["auc"].get<double>());
  std::printf("%-*s n=%-5d auc %s  acc %.3f  prec %.3f  recall %.3f  f1 %.3f\n", width, name.c_str(), m["n"].get<int>(), auc,
              m["accuracy"].get<double>(), m["precision"].get<double>(), m["recall"].get<double>(), m["f1"].get<double>());
}
// One line of pipeline::healthy_flag_rate: the healthy-labelled vertebrae flagged (the
// scanner-shortcut measure, read per source).
inline void print_healthy_flag_line(const std::string& name, const nlohmann::json& h, int width = 24) {
  if (h["n"].get<int>() == 0) return;
  char at[32] = "each run's threshold";  // a pool of runs judged at their own thresholds
  if (h["threshold"].is_number()) std::snprintf(at, sizeof at, "p >= %.2f", h["threshold"].get<double>());
  std::printf("%-*s %d of %d healthy-labelled flagged (%.0f %%) at %s; their p: quartiles %.2f %.2f %.2f\n", width,
              name.c_str(), h["flagged"].get<int>(), h["n"].get<int>(), 100 * h["flag_rate"].get<double>(), at,
              h["p25"].get<double>(), h["median"].get<double>(), h["p75"].get<double>());
}
void register_analyze(CLI::App& app, Runner& run);
void register_worker(CLI::App& app, Runner& run);

// Appends the non-empty items of a comma-separated option value ("a,b,,c" -> a, b, c).
inline void append_comma_list(const std::string& text, std::vector<std::string>* out) {
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out->push_back(item);
}

// Runs `body` (which reads `study`); an error is re-thrown with the study's path replaced by
// "the study" unless identifiers are kept: a hospital's paths often hold the patient's name.
template <class Body>
auto without_identifiers(const std::string& study, bool keep_identifiers, Body&& body) -> decltype(body()) {
  if (keep_identifiers) return body();
  try {
    return body();
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw DataError(redact_path(e.what(), study, "the study"));
  }
}

}  // namespace spinescan::cli
