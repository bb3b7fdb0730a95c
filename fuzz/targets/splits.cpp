// libFuzzer target: splits (fuzz/harness.h).
#include "harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spinescan::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spinescan::fuzz::splits_input(data, size);
  return 0;
}
