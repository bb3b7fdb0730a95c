// Writes a volume as sagittal DICOM series for the PACS and cluster benchmarks: the study in
// the canonical sagittal layout, COUNT times, each a patient and study of its own (anonymous
// names "BENCH^n"), into OUT/1, OUT/2, ...
// Usage: spinescan_write_dicom_series STUDY OUT COUNT
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s STUDY OUT COUNT\n", argv[0]);
    return 2;
  }
  try {
    const auto canonical = spinescan::to_canonical(spinescan::read_volume(argv[1]));
    spinescan::Volume<int16_t> v = canonical.like<int16_t>();
    for (size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<int16_t>(std::lround(canonical.voxels[i]));
    const int count = std::atoi(argv[3]);
    for (int n = 1; n <= count; ++n) {
      spinescan::DicomSeriesOptions o;
      o.patient_name = "BENCH^" + std::to_string(n);
      o.patient_id = "BENCH" + std::to_string(n);
      spinescan::write_dicom_series(v, std::string(argv[2]) + "/" + std::to_string(n), o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
