#include "spinescan/data/off_target.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/phantom.h"
#include "spinescan/io/volume_writer.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

using Image = Volume<int16_t>;

// Thick slices along `axis`: each the mean of the `factor` thin ones it covers (a slice
// integrates its thickness), positioned at their centre.
Image thicken(const Image& in, int axis, int factor) {
  Image out = in.like<int16_t>();
  out.size[axis] = in.size[axis] / factor;
  out.spacing_mm[axis] = in.spacing_mm[axis] * factor;
  for (int p = 0; p < 3; ++p) out.origin_lps[p] += in.direction[p][axis] * in.spacing_mm[axis] * (factor - 1) / 2.0;
  out.voxels.assign(out.num_voxels(), 0);
  for (int64_t k = 0; k < out.size[2]; ++k)
    for (int64_t r = 0; r < out.size[1]; ++r)
      for (int64_t c = 0; c < out.size[0]; ++c) {
        double sum = 0;
        for (int j = 0; j < factor; ++j) {
          std::array<int64_t, 3> i{c, r, k};
          i[axis] = i[axis] * factor + j;
          sum += in.at(i[0], i[1], i[2]);
        }
        out.at(c, r, k) = static_cast<int16_t>(std::lround(sum / factor));
      }
  return out;
}

// Rows [first, first + count) of a canonical image (superior -> inferior).
Image crop_rows(const Image& in, int64_t first, int64_t count) {
  Image out = in.like<int16_t>();
  out.size[1] = count;
  for (int p = 0; p < 3; ++p) out.origin_lps[p] += in.direction[p][1] * in.spacing_mm[1] * static_cast<double>(first);
  out.voxels.assign(out.num_voxels(), 0);
  for (int64_t k = 0; k < out.size[2]; ++k)
    for (int64_t r = 0; r < count; ++r)
      for (int64_t c = 0; c < out.size[0]; ++c) out.at(c, r, k) = in.at(c, first + r, k);
  return out;
}

// The coronal images of a canonical volume (left-right across, head to foot down) stored as
// if each were a sagittal slice: the header says sagittal, the pixels do not.
Image coronal_as_sagittal(const Image& in) {
  Image out = in.like<int16_t>();
  out.size = {in.size[2], in.size[1], in.size[0]};
  out.spacing_mm = {in.spacing_mm[2], in.spacing_mm[1], in.spacing_mm[0]};
  for (int64_t k = 0; k < out.size[2]; ++k)
    for (int64_t r = 0; r < out.size[1]; ++r)
      for (int64_t c = 0; c < out.size[0]; ++c) out.at(c, r, k) = in.at(k, r, c);
  return out;
}

int16_t marrow_level(const Image& phantom) {
  std::vector<int16_t> v(phantom.voxels);
  auto at = v.begin() + static_cast<std::ptrdiff_t>(0.9 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), at, v.end());
  return std::max<int16_t>(*at, 100);
}

Image rician_noise(const Image& like, double sd, Rng& rng) {
  Image out = like.like<int16_t>();
  for (auto& x : out.voxels) x = static_cast<int16_t>(std::lround(std::hypot(rng.normal(0, sd), rng.normal(0, sd))));
  return out;
}

// Soft-edged ellipsoids of tissue-like brightness over faint noise: shapes, but no column.
Image blobs(const Image& like, int16_t bright, Rng& rng) {
  Image out = rician_noise(like, 0.03 * bright, rng);
  const auto& sp = like.spacing_mm;
  const int count = rng.integer(6, 12);
  for (int n = 0; n < count; ++n) {
    const std::array<double, 3> centre_mm{rng.uniform(0, like.size[0] * sp[0]), rng.uniform(0, like.size[1] * sp[1]),
                                          rng.uniform(0, like.size[2] * sp[2])};
    const std::array<double, 3> radius_mm{rng.uniform(8, 60), rng.uniform(8, 60), rng.uniform(8, 40)};
    const double level = rng.uniform(0.3, 1.2) * bright;
    for (int64_t k = 0; k < like.size[2]; ++k)
      for (int64_t r = 0; r < like.size[1]; ++r)
        for (int64_t c = 0; c < like.size[0]; ++c) {
          const double dc = ((c + 0.5) * sp[0] - centre_mm[0]) / radius_mm[0], dr = ((r + 0.5) * sp[1] - centre_mm[1]) / radius_mm[1],
                       dk = ((k + 0.5) * sp[2] - centre_mm[2]) / radius_mm[2];
          const double d = std::sqrt(dc * dc + dr * dr + dk * dk);
          const double w = 1 / (1 + std::exp((d - 1) * 12));  // soft edge, about a tenth of the radius
          auto& x = out.at(c, r, k);
          x = static_cast<int16_t>(std::clamp(std::max<double>(x, w * level), 0.0, 32000.0));
        }
  }
  return out;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<OffTargetCase> write_off_target_set(const fs::path& out, uint64_t seed, bool overwrite) {
  PhantomOptions o;
  o.min_inplane_spacing_mm = o.max_inplane_spacing_mm = 1.0;
  o.min_slice_spacing_mm = o.max_slice_spacing_mm = 1.0;
  o.random_direction = false;
  Rng rng(seed);
  const Phantom p = make_phantom(rng.next(), o);
  const Image& lumbar = p.canonical_image;
  const int16_t bright = marrow_level(lumbar);

  StagedDirectory staged(out, overwrite);
  const fs::path dir = staged.path();
  std::vector<OffTargetCase> cases;
  auto add = [&](const std::string& file, const Image& image, const std::string& what) {
    write_volume(image, dir / file);
    cases.push_back({file, what, "fitness"});
  };
  add("axial_4mm.nii.gz", thicken(lumbar, 1, 4), "the lumbar phantom acquired as 4 mm axial slices");
  add("coronal_5mm.nii.gz", thicken(lumbar, 0, 5), "the lumbar phantom acquired as 5 mm coronal slices");
  // A coronal view of the spine is a column of vertebral bodies too, and the header gives
  // nothing away. This one is refused by its field, front to back: the coronal images of a
  // sagittal slab are as wide as the slab (the phantom's 55-70 mm), too narrow to hold a vertebra
  // with its canal and arch. A coronal image as wide as a clinical acquisition has no such tell
  // (docs/analyze.md, "What is refused").
  add("coronal_as_sagittal.nii.gz", thicken(coronal_as_sagittal(lumbar), 2, 3),
      "3 mm coronal images of the phantom's sagittal slab stored as sagittal slices");
  add("sagittal_10mm.nii.gz", thicken(lumbar, 2, 10), "sagittal slices 10 mm thick");
  add("small_field.nii.gz", crop_rows(lumbar, lumbar.size[1] / 2 - 30, 60), "60 mm of the column, head to foot");
  Image empty = lumbar.like<int16_t>();
  for (int64_t k = 0; k < empty.size[2] / 4; ++k)
    for (int64_t r = 0; r < empty.size[1] / 10; ++r)
      for (int64_t c = 0; c < empty.size[0] / 10; ++c) empty.at(c, r, k) = bright;
  add("mostly_empty.nii.gz", empty, "zeros with one small bright block");
  add("noise.nii.gz", rician_noise(lumbar, 0.3 * bright, rng), "Rician noise at the phantom's size and spacing");
  add("blobs.nii.gz", blobs(lumbar, bright, rng), "soft ellipsoids of tissue-like signal, no spinal column");

  // Cut copies of the (whole, readable) phantom: each a read error.
  const fs::path whole = dir / "whole.nii.gz";
  write_volume(lumbar, whole);
  const std::string bytes = read_bytes(whole);
  fs::remove(whole);
  const std::vector<std::pair<std::string, size_t>> cuts = {{"truncated_50pct.nii.gz", bytes.size() / 2},
                                                            {"truncated_90pct.nii.gz", bytes.size() * 9 / 10},
                                                            {"truncated_99pct.nii.gz", bytes.size() * 99 / 100},
                                                            {"truncated_no_trailer.nii.gz", bytes.size() - 8},
                                                            {"truncated_one_byte.nii.gz", bytes.size() - 1}};
  for (const auto& [file, keep] : cuts) {
    write_text_atomically(dir / file, bytes.substr(0, keep));
    cases.push_back({file, "the lumbar phantom's .nii.gz cut to " + std::to_string(keep) + " of " + std::to_string(bytes.size()) + " bytes",
                     "read"});
  }
  std::string index = csv_line({"file", "what", "refused_by"});
  for (const auto& c : cases) index += csv_line({c.file, c.what, c.refusal});
  write_text_atomically(dir / "off_target.csv", index);
  staged.commit();
  return cases;
}

}  // namespace spinescan
