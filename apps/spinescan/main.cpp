// spinescan: finds vertebral bodies in sagittal lumbar spine MRI and flags pathological ones.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/core/tensor_allocator.h"
#include "spinescan/core/threads.h"
#include "spinescan/core/version.h"

int main(int argc, char** argv) {
  using namespace spinescan;
  CLI::App app{"spinescan: vertebral bodies and their pathology in sagittal lumbar spine MRI (an assistant, not a diagnosis)"};
  app.option_defaults()->always_capture_default();
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("spinescan ") + version() + " (" + git_revision() + ")");
  int threads = 0;
  app.add_option("--threads", threads, "libtorch threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  std::string detector_precision = "fp32";
  app.add_option("--detector-precision", detector_precision,
                 "fp32; bf16: the detector about 2x as fast on a CPU with AMX-BF16 and 1.3x with AVX512-BF16, its "
                 "boxes and scores rounded; int8: 8-bit integers, about 2x as fast, from the ranges the bundle stores "
                 "(spinescan model calibrate-int8). docs/benchmarks.md measures both; every reported accuracy is fp32's")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
  bool quiet = false, verbose = false;
  app.add_flag("-q,--quiet", quiet, "only errors on stderr");
  app.add_flag("-v,--verbose", verbose, "debug messages on stderr");

  cli::Runner run;
  cli::register_analyze(app, run);
  cli::register_worker(app, run);
  cli::register_info(app, run);
  cli::register_synth(app, run);
  cli::register_dataset(app, run);
  cli::register_train(app, run);
  cli::register_evaluate(app, run);
  cli::register_detect(app, run);
  cli::register_model(app, run);
  cli::register_tune(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : cli::kUsage;
  }
  set_log_level(quiet ? LogLevel::error : verbose ? LogLevel::debug : LogLevel::info);
  // The command's own objects are gone when run() returns (its reports written and renamed
  // into place, its files closed); what is left at exit is the libraries' static state:
  // libtorch's operator registry, thread pools and the 300-odd shared libraries Debian's
  // libtorch loads, whose teardown took 0.1-0.2 s of every run. Output is flushed, then the
  // process ends without it.
  const int code = [&]() -> int {
  try {
    install_tensor_allocator();
    configure_threads(threads);
    set_detector_precision(detector_precision == "bf16"   ? DetectorPrecision::kBFloat16
                           : detector_precision == "int8" ? DetectorPrecision::kInt8
                                                          : DetectorPrecision::kFloat32);
    if (detector_precision == "bf16" && !cpu_has_bf16_instructions())
      log_warning(
          "--detector-precision bf16: this CPU has neither AMX-BF16 nor AVX512-BF16, so bfloat16 is likely slower than fp32 here");
    return run ? run() : cli::kUsage;
  } catch (const ConfigError& e) {
    std::cerr << "spinescan: error: " << e.what() << "\n";
    return cli::kUsage;
  } catch (const Interrupted& e) {
    std::cerr << "spinescan: " << e.what() << "\n";
    return cli::kInterrupted;
  } catch (const Error& e) {
    std::cerr << "spinescan: error: " << e.what() << "\n";
    return cli::kDataProblem;
  } catch (const nlohmann::json::exception& e) {
    // A JSON file (manifest, spec, splits, dataset) that parsed but holds a field of the wrong
    // type or lacks one: bad input, not a bug of ours.
    std::cerr << "spinescan: error: a JSON input has a missing or wrongly typed field: " << e.what() << "\n";
    return cli::kDataProblem;
  } catch (const std::exception& e) {
    // Filesystem and library errors outside our typed exceptions: still one line.
    std::cerr << "spinescan: error: " << e.what() << "\n";
    return cli::kInternal;
  }
  }();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}
