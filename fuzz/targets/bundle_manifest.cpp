// libFuzzer target: bundle_manifest (fuzz/harness.h).
#include "harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spinescan::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spinescan::fuzz::bundle_manifest_input(data, size);
  return 0;
}
