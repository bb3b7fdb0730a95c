#include "spinescan/core/threads.h"

#include <fstream>
#include <string>

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <thread>

namespace spinescan {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int configure_threads(int num_threads) {
  const int n = num_threads > 0 ? num_threads : hardware_threads();
  at::set_num_threads(n);
  // OpenBLAS (the BLAS setup selects) runs its own pool of threads under libtorch's OpenMP
  // ones; while it works the OpenMP threads spin, and the two pools fight over the cores.
  // One BLAS thread per caller: on 2 cores the classifier's study went from 500 to 250 ms
  // (docs/benchmarks.md). Looked up at run time: another BLAS has no such call.
  using SetBlasThreads = void (*)(int);
  if (auto set_blas_threads = reinterpret_cast<SetBlasThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(1);
  return at::get_num_threads();
}

namespace {
DetectorPrecision g_detector_precision = DetectorPrecision::kFloat32;
}  // namespace

void set_detector_precision(DetectorPrecision precision) { g_detector_precision = precision; }
DetectorPrecision detector_precision() { return g_detector_precision; }

bool cpu_has_bf16_instructions(const std::string& cpuinfo_path) {
  std::ifstream cpuinfo(cpuinfo_path);
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      line += ' ';  // so that the last flag ends with a space like the others
      return line.find(" amx_bf16 ") != std::string::npos || line.find(" avx512_bf16 ") != std::string::npos;
    }
  return false;
}

}  // namespace spinescan
