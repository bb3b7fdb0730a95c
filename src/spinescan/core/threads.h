#pragma once

#include <string>

// libtorch (Debian's build) starts with one intra-op thread; every entry point calls this.
namespace spinescan {
// Sets libtorch's intra-op thread count; num_threads <= 0 means all hardware threads. BLAS
// (OpenBLAS) gets one thread of its own: the parallelism is libtorch's. Returns the count in
// effect.
int configure_threads(int num_threads);
int hardware_threads();

// The precision the detector runs in when loaded for inference (`spinescan --detector-precision`),
// process-wide like the thread count. Float32 is the default and what every reported accuracy was
// measured with; bfloat16 is about twice as fast where the CPU has AMX-BF16 and about 1.3x where
// it has AVX512-BF16 (docs/benchmarks.md); 8-bit integers need the ranges a bundle stores
// (`spinescan model calibrate-int8`) and run the detector about twice as fast on any x86 CPU.
enum class DetectorPrecision { kFloat32, kBFloat16, kInt8 };
void set_detector_precision(DetectorPrecision precision);
DetectorPrecision detector_precision();
// Whether the CPU (the flags line of a /proc/cpuinfo-format file) has the bfloat16 instructions
// oneDNN's bfloat16 convolutions run on: AMX-BF16 tiles or AVX512-BF16 dot products. Without
// either, bfloat16 is converted in software and likely slower than float.
bool cpu_has_bf16_instructions(const std::string& cpuinfo_path = "/proc/cpuinfo");
}  // namespace spinescan
