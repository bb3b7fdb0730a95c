#include "spinescan/core/tensor_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>

namespace spinescan {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kSmallAlignment = 64;  // libtorch's own, for vector instructions

void free_block(void* data) { std::free(data); }

// Every block comes from aligned_alloc and goes back with free(), so the DataPtr's context is
// its data and one deleter serves all (oneDNN frees through raw_deleter(), which needs both).
class HugePageAllocator final : public c10::Allocator {
 public:
  explicit HugePageAllocator(size_t large_bytes) : large_bytes_(large_bytes) {}

  c10::DataPtr allocate(size_t n) const override {
    void* data = nullptr;
    if (n >= large_bytes_) {
      // Whole huge pages, aligned to one: a block that starts mid-page would get huge pages
      // only for the aligned stretches inside it (measured: most of the gain lost).
      const size_t bytes = (n + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
      data = std::aligned_alloc(kHugePageBytes, bytes);
      // Advice only: where THP is off, plain pages.
      if (data != nullptr) ::madvise(data, bytes, MADV_HUGEPAGE);
    } else if (n > 0) {
      data = std::aligned_alloc(kSmallAlignment, (n + kSmallAlignment - 1) / kSmallAlignment * kSmallAlignment);
    }
    if (n > 0 && data == nullptr) throw std::bad_alloc();
    return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }

 private:
  size_t large_bytes_;
};

// Never destroyed: tensors may be freed during static destruction, after main returns.
HugePageAllocator* installed = nullptr;
std::once_flag install_once;

}  // namespace

void install_tensor_allocator(size_t large_bytes) {
  std::call_once(install_once, [&] {
    installed = new HugePageAllocator(large_bytes);
    // Priority above the default's 0, so nothing libtorch registers later takes its place.
    c10::SetCPUAllocator(installed, /*priority=*/1);
  });
}

bool tensor_allocator_installed() { return installed != nullptr; }

}  // namespace spinescan
