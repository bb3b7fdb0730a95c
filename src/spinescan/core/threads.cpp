#include "spinescan/core/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace spinescan {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int configure_threads(int num_threads) {
  const int n = num_threads > 0 ? num_threads : hardware_threads();
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace spinescan
