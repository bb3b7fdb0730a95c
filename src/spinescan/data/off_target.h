#pragma once
// Studies spinescan must not report on, made from a lumbar phantom (data/phantom.h) and from
// nothing: what a hospital archive also holds. Each should end "not analysed" or as a read
// error, with exit 1 (`spinescan synth off-target`; docs/analyze.md, "What is refused"):
//   axial_4mm, coronal_5mm       the phantom acquired in another plane with thick slices
//                                (each slice the mean of the thin ones it covers; the header
//                                says the plane, as a scanner's does)
//   coronal_as_sagittal          3 mm coronal images of the phantom's sagittal slab (55-70 mm
//                                wide) stored as if they were sagittal slices
//   sagittal_10mm                sagittal slices too thick to hold a body
//   small_field                  60 mm of the column, head to foot
//   mostly_empty                 zeros with one small bright block
//   noise                        Rician noise at the phantom's size and spacing
//   blobs                        soft ellipsoids of tissue-like signal, no column
//   truncated_*                  the phantom's .nii.gz cut at 50 %, 90 % and 99 %, without its
//                                8-byte gzip trailer, and one byte short
// Same seed, same bytes.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace spinescan {

struct OffTargetCase {
  std::string file;  // name in the folder
  std::string what;  // one line
  // "read" (the reader refuses it) or "fitness" (analyze's checks do).
  std::string refusal;
};

// Writes the set into `out` (built under a temporary name, renamed when complete) with an
// index, off_target.csv (file,what,refused_by). Returns the cases written.
std::vector<OffTargetCase> write_off_target_set(const std::filesystem::path& out, uint64_t seed, bool overwrite);

}  // namespace spinescan
