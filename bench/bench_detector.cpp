// Milliseconds per slice of the detector's forward pass and post-processing on the CPU,
// at a given canvas size and thread count. Prints one JSON line. Weights are untrained (the
// cost does not depend on them: both models start near the 0.01 prior, so post-processing
// sees few candidates); run bench/run_detector_bench.sh for the side-by-side comparison.
#include <torch/torch.h>

#include <chrono>
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "spinescan/core/tensor_allocator.h"
#include "spinescan/core/threads.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/retinanet.h"

int main(int argc, char** argv) {
  CLI::App app{"detector inference benchmark"};
  int size = 256, threads = 0, iterations = 20, warmup = 3;
  std::string model;
  app.add_option("--size", size, "canvas size");
  app.add_option("--threads", threads, "threads (0 = all)");
  app.add_option("--iterations", iterations, "timed forward passes");
  app.add_option("--warmup", warmup, "untimed forward passes first");
  app.add_option("--model", model, "time this bundle instead of the default architecture");
  int batch = 1;
  app.add_option("--batch", batch, "slices per forward pass (analyze uses 8); the time printed is per slice");
  std::vector<int> sequence;
  app.add_option("--sequence", sequence,
                 "instead: one call of each of these batch sizes in order, no warm-up; prints each call's ms "
                 "(what a new batch shape costs the first time: analyze's last batch of a study is smaller)")
      ->delimiter(',');
  int int8_calibration_batches = 0;
  app.add_option("--int8", int8_calibration_batches,
                 "backbone, FPN and heads in 8-bit integers (oneDNN), their ranges recorded on this many random "
                 "batches of the timed shape (speed only: random images say nothing of accuracy)");
  bool stored_int8 = false;
  app.add_flag("--stored-int8", stored_int8,
               "with --model: load it as `--detector-precision int8` does, from the ranges the bundle stores; prints "
               "the load's ms (with --sequence, what a cold analyze pays)");
  CLI11_PARSE(app, argc, argv);
  // As the spinescan binary runs it: its tensor allocator, its threads, batch norms folded.
  spinescan::install_tensor_allocator();
  const int used_threads = spinescan::configure_threads(threads);
  torch::manual_seed(0);
  spinescan::detect::RetinaNet net{nullptr};
  double load_ms = 0;
  if (model.empty()) {
    net = spinescan::detect::RetinaNet(spinescan::detect::RetinaNetOptions{});
  } else {
    if (stored_int8) spinescan::set_detector_precision(spinescan::DetectorPrecision::kInt8);
    const auto t0 = std::chrono::steady_clock::now();
    net = spinescan::detect::load_detector(model).net;
    load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  net->eval();
  net->fold_batch_norms();  // load_detector has done it already; twice is once
  torch::NoGradGuard no_grad;
  double int8_quantize_ms = 0;
  if (int8_calibration_batches > 0) {
    std::vector<torch::Tensor> calibration;
    for (int i = 0; i < int8_calibration_batches; ++i) calibration.push_back(torch::rand({batch, 1, size, size}));
    net->calibrate_int8(calibration);
    const auto t0 = std::chrono::steady_clock::now();
    net->quantize_int8();  // what loading a calibrated bundle adds (analyze's model load)
    int8_quantize_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  if (!sequence.empty()) {
    nlohmann::json calls = nlohmann::json::array();
    for (const int slices : sequence) {
      const auto images = torch::rand({slices, 1, size, size});
      const auto t0 = std::chrono::steady_clock::now();
      net->postprocess(net->forward(images));
      calls.push_back({{"batch", slices}, {"ms", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count()}});
    }
    nlohmann::json result = {{"size", size}, {"threads", used_threads}, {"calls", calls}, {"precision", net->precision_name()}};
    if (!model.empty()) result["load_ms"] = load_ms;
    if (int8_calibration_batches > 0) result["int8_quantize_ms"] = int8_quantize_ms;
    std::cout << result.dump() << std::endl;
    return 0;
  }
  const auto image = torch::rand({batch, 1, size, size});
  for (int i = 0; i < warmup; ++i) net->postprocess(net->forward(image));
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    net->postprocess(net->forward(image));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / batch);
  }
  std::sort(ms.begin(), ms.end());
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  std::cout << nlohmann::json{{"model", "spinescan RetinaNet (ResNet-18, FPN P3-P4, 128-ch 2-conv heads)"},
                              {"size", size},
                              {"batch", batch},
                              {"threads", used_threads},
                              {"iterations", iterations},
                              {"median_ms", ms[ms.size() / 2]},
                              {"min_ms", ms.front()},
                              {"parameters", params}}
                   .dump()
            << std::endl;
}
