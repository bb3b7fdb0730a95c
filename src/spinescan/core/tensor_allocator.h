#pragma once
// The CPU allocator libtorch's tensors get in spinescan's processes.
//
// Inference allocates and frees the same large feature maps slice batch after slice batch.
// libtorch's default allocator gets each large block from a fresh mmap, and every 4 KiB page
// of it is faulted in on first touch; on a virtual machine a fault costs microseconds, and on
// the 2-core development VM that was about a third of the detector's wall time
// (docs/benchmarks.md, "Where the time went"). This allocator gives large blocks whole 2 MiB
// pages, aligned and marked for transparent huge pages (madvise), so the kernel backs them
// with huge pages where it allows THP on request: 512 times fewer faults. Small blocks are
// aligned like libtorch's own. Keeping freed blocks for reuse was measured too and left out:
// it saved a further 5 % of warm detection for 170 MiB more resident memory. Where the kernel's
// THP defrag setting compacts memory for advised regions, a fault can stall on a fragmented
// machine; rounding to whole huge pages costs at most 2 MiB per large block.
#include <cstddef>

namespace spinescan {

// Installs the allocator as libtorch's CPU allocator (once; later calls do nothing). Blocks of
// at least `large_bytes` are advised.
void install_tensor_allocator(size_t large_bytes = size_t{2} << 20);
bool tensor_allocator_installed();

}  // namespace spinescan
