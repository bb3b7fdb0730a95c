// libFuzzer target: a study read as dicom_folder (fuzz/harness.h).
#include "harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spinescan::fuzz::initialize();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spinescan::fuzz::read_study_input(spinescan::fuzz::StudyFormat::dicom_folder, data, size);
  return 0;
}
