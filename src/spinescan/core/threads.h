#pragma once
// libtorch (Debian's build) starts with one intra-op thread; every entry point calls this.
namespace spinescan {
// Sets libtorch's intra-op thread count; num_threads <= 0 means all hardware threads. BLAS
// (OpenBLAS) gets one thread of its own: the parallelism is libtorch's. Returns the count in
// effect.
int configure_threads(int num_threads);
int hardware_threads();
}  // namespace spinescan
