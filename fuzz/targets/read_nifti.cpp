// libFuzzer target: a study read as nifti (fuzz/harness.h).
#include "harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spinescan::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spinescan::fuzz::read_study_input(spinescan::fuzz::StudyFormat::nifti, data, size);
  return 0;
}
