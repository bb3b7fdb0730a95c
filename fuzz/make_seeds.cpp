// Writes the fuzz targets' seed corpora: small studies cut from phantoms (spinescan synth's
// anatomy) in every reader format, a phantom dataset's dataset.json and vertebrae.csv, splits
// files, and the shipped bundle's manifest with variants. Same arguments, same bytes.
// Usage: spinescan_fuzz_seeds OUT SOURCE_DIR  (writes OUT/<target>/seed_*)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageReader.h>
#include <gdcmImageWriter.h>
#include <nlohmann/json.hpp>

#include "spinescan/data/phantom.h"
#include "spinescan/data/splits.h"
#include "spinescan/io/volume_writer.h"

namespace fs = std::filesystem;
using namespace spinescan;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// The DICOM file again with its pixel data in another transfer syntax (RLE or JPEG-LS, which
// ITK's writer does not write), by GDCM, which spinescan reads them with.
std::string transcoded(const fs::path& file, const gdcm::TransferSyntax& syntax, const fs::path& out) {
  gdcm::ImageReader reader;
  reader.SetFileName(file.c_str());
  if (!reader.Read()) throw std::runtime_error("GDCM cannot read the seed " + file.string());
  gdcm::ImageChangeTransferSyntax change;
  change.SetTransferSyntax(syntax);
  change.SetInput(reader.GetImage());
  if (!change.Change()) throw std::runtime_error("GDCM cannot transcode the seed " + file.string());
  gdcm::ImageWriter writer;
  writer.SetFileName(out.c_str());
  writer.SetFile(reader.GetFile());
  writer.SetImage(change.GetOutput());
  if (!writer.Write()) throw std::runtime_error("GDCM cannot write " + out.string());
  return read_bytes(out);
}

// A few slices of a phantom around its midline, subsampled in plane to cols x rows: a real
// study's layout and contrast in a few kB, which a fuzzer can mutate quickly.
Volume<int16_t> small_study(uint64_t seed, int64_t cols, int64_t rows, int64_t slices) {
  PhantomOptions options;
  options.random_direction = false;
  const Phantom p = make_phantom(seed, options);
  const Volume<int16_t>& full = p.canonical_image;
  Volume<int16_t> v;
  v.size = {cols, rows, slices};
  v.spacing_mm = {full.spacing_mm[0] * static_cast<double>(full.size[0]) / static_cast<double>(cols),
                  full.spacing_mm[1] * static_cast<double>(full.size[1]) / static_cast<double>(rows), full.spacing_mm[2]};
  v.origin_lps = full.origin_lps;
  v.direction = full.direction;
  v.voxels.resize(static_cast<size_t>(v.num_voxels()));
  const int64_t first_slice = full.size[2] / 2 - slices / 2;
  for (int64_t k = 0; k < slices; ++k)
    for (int64_t j = 0; j < rows; ++j)
      for (int64_t i = 0; i < cols; ++i)
        v.at(i, j, k) = full.at(i * full.size[0] / cols, j * full.size[1] / rows, first_slice + k);
  return v;
}

template <class T>
Volume<T> converted(const Volume<int16_t>& v) {
  Volume<T> out = v.template like<T>();
  for (size_t i = 0; i < v.voxels.size(); ++i) out.voxels[i] = static_cast<T>(v.voxels[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT SOURCE_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path source = argv[2];
  const fs::path scratch = out / ".scratch";
  try {
    fs::remove_all(scratch);
    const std::string next = fuzz::kNextFile;
    const Volume<int16_t> studies[] = {small_study(1, 24, 32, 3), small_study(2, 16, 16, 2), small_study(3, 32, 24, 4)};
    for (int s = 0; s < 3; ++s) {
      const Volume<int16_t>& v = studies[s];
      const std::string n = std::to_string(s);
      const std::pair<const char*, const char*> formats[] = {
          {"read_nifti", ".nii"}, {"read_nifti_gz", ".nii.gz"}, {"read_metaimage", ".mha"}, {"read_nrrd", ".nrrd"}};
      for (const auto& [target, extension] : formats) {
        // Three pixel types across the seeds: the readers convert each to float.
        const fs::path file = scratch / (std::string(target) + n + extension);
        fs::create_directories(scratch);
        if (s == 0) write_volume(v, file);
        if (s == 1) write_volume(converted<float>(v), file);
        if (s == 2) write_volume(converted<uint16_t>(v), file);
        write_bytes(out / target / ("seed_" + n), read_bytes(file));
      }
      // Uncompressed, and for the second study also JPEG 2000 and lossless JPEG (seeds 3 and
      // 4): the fuzzer then reaches GDCM's decoders (OpenJPEG, IJG) through their fragments.
      for (const char* compression : s == 1 ? std::vector<const char*>{"", "jpeg2000", "jpeg"} : std::vector<const char*>{""}) {
        const std::string id = *compression == 0 ? n : std::string(compression) == "jpeg2000" ? "3" : "4";
        DicomSeriesOptions dicom;
        dicom.series_uid = "1.2.826.0.1.3680043.10.1151.1." + id;
        dicom.study_uid = "1.2.826.0.1.3680043.10.1151.2." + id;
        dicom.compression = compression;
        dicom.reproducible = true;
        const fs::path series = scratch / ("dicom" + id);
        write_dicom_series(v, series, dicom);
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(series)) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        std::string folder;
        for (size_t i = 0; i < files.size(); ++i) {
          const std::string bytes = read_bytes(files[i]);
          if (i == 0) write_bytes(out / "read_dicom_file" / ("seed_" + id), bytes);
          folder += (i ? next : "") + bytes;
        }
        write_bytes(out / "read_dicom_folder" / ("seed_" + id), folder);
        if (*compression != 0 || s != 1) continue;
        // The same series in RLE (seed 5) and JPEG-LS (seed 6): GDCM's RLE decoder and CharLS.
        const std::pair<const char*, gdcm::TransferSyntax::TSType> transcodings[] = {
            {"5", gdcm::TransferSyntax::RLELossless}, {"6", gdcm::TransferSyntax::JPEGLSLossless}};
        for (const auto& [other_id, syntax] : transcodings) {
          std::string other_folder;
          for (size_t i = 0; i < files.size(); ++i) {
            const std::string bytes = transcoded(files[i], syntax, scratch / "transcoded.dcm");
            if (i == 0) write_bytes(out / "read_dicom_file" / ("seed_" + std::string(other_id)), bytes);
            other_folder += (i ? next : "") + bytes;
          }
          write_bytes(out / "read_dicom_folder" / ("seed_" + std::string(other_id)), other_folder);
        }
      }
    }

    PhantomOptions options;
    write_phantom_dataset(scratch / "dataset", 2, 7, options, true);
    write_bytes(out / "dataset" / "seed_0",
                read_bytes(scratch / "dataset" / "dataset.json") + next + read_bytes(scratch / "dataset" / "vertebrae.csv"));
    write_bytes(out / "dataset" / "seed_1", "{\"name\": \"x\"}" + next + "case,label,level,pathological,findings,source_note\ncase_1,1,L5,1,tumour,\n");

    const std::vector<std::string> cases = {"a_1", "a_2", "a_3", "b_1", "b_2", "b_3"};
    write_bytes(out / "splits" / "seed_0", make_splits(cases, {true, false, true, false, true, false}, 3, 11).to_json().dump(1));
    write_bytes(out / "splits" / "seed_1", make_source_splits(cases, {"a", "a", "a", "b", "b", "b"}).to_json().dump());
    if (fs::exists(source / "models/default/splits_spine_mri.json"))
      write_bytes(out / "splits" / "seed_2", read_bytes(source / "models/default/splits_spine_mri.json"));

    const fs::path manifest = source / "models/default/manifest.json";
    if (!fs::exists(manifest)) throw std::runtime_error(manifest.string() + ": missing (SOURCE_DIR is the checkout)");
    const nlohmann::json shipped = nlohmann::json::parse(read_bytes(manifest));
    write_bytes(out / "bundle_manifest" / "seed_0", shipped.dump(1));
    int k = 1;
    for (const char* dropped : {"aggregator", "classifier", "ood", "levels"}) {
      nlohmann::json variant = shipped;
      variant.erase(dropped);
      // The out-of-distribution reference on the classifier's features goes with its classifier.
      if (std::string(dropped) == "classifier" && variant.contains("ood")) variant["ood"].erase("classifier_embedding");
      write_bytes(out / "bundle_manifest" / ("seed_" + std::to_string(k++)), variant.dump());
    }
    fs::remove_all(scratch);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spinescan_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
