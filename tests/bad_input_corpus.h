#pragma once
// A corpus of studies no command may read (issue 20, section 3): files and folders cut short,
// non-finite voxels, absurd sizes, spacings and direction matrices, 4D and colour volumes,
// broken DICOM series. Written from code at test time (a few KiB each), so that the inputs
// and what each must be refused for live in one place and cannot drift apart.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include "spinescan/io/volume_writer.h"
#include "test_util.h"

namespace spinescan::testing {

struct BadInput {
  std::string name;          // file or folder name inside the corpus folder
  std::filesystem::path path;
  std::string fault;         // a fragment the refusal message must hold
};

namespace bad_input_detail {

inline Volume<float> gradient_volume() {
  Volume<float> v;
  v.size = {8, 6, 4};
  v.voxels.resize(static_cast<size_t>(v.num_voxels()));
  for (size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<float>(i % 17);
  return v;
}

inline std::string mha(const std::string& extra_header, const std::string& dims, const std::string& type, size_t data_bytes,
                       char fill = '\x05') {
  return "ObjectType = Image\nNDims = " + std::to_string(std::count(dims.begin(), dims.end(), ' ') + 1) + "\nDimSize = " + dims +
         "\n" + extra_header + "ElementType = " + type + "\nElementDataFile = LOCAL\n" + std::string(data_bytes, fill);
}

inline std::string float_bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

inline std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 13);
  return v;
}

// Rewrites a DICOM file in transfer syntax `xfer` with its pixel data replaced by one
// encapsulated fragment of `fragment` (what a compressed file holds, here not decodable).
inline void recode_with_encapsulated_pixels(const std::filesystem::path& path, E_TransferSyntax xfer, const std::string& fragment) {
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) throw std::runtime_error("cannot load " + path.string());
  DcmDataset* data = file.getDataset();
  delete data->remove(DCM_PixelData);
  auto* sequence = new DcmPixelSequence(DcmTag(DCM_PixelData, EVR_OB));
  sequence->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // an empty basic offset table
  auto* item = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
  item->putUint8Array(reinterpret_cast<const Uint8*>(fragment.data()), static_cast<unsigned long>(fragment.size()));
  sequence->insert(item);
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(xfer, nullptr, sequence);
  data->insert(pixels, true);
  if (file.saveFile(path.c_str(), xfer).bad()) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace bad_input_detail

// Writes the corpus into `dir` and returns its entries.
inline std::vector<BadInput> write_bad_input_corpus(const std::filesystem::path& dir) {
  using namespace bad_input_detail;
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::vector<BadInput> out;
  const auto add = [&](const std::string& name, const std::string& bytes, const std::string& fault) {
    write_file(dir / name, bytes);
    out.push_back({name, dir / name, fault});
  };

  // NIfTI, plain and compressed.
  write_volume(gradient_volume(), dir / "whole.nii");
  const std::string nii = read_file(dir / "whole.nii");
  fs::remove(dir / "whole.nii");
  add("empty.nii", "", "NIfTI");
  add("header_only.nii", nii.substr(0, 100), "NIfTI");
  add("short_pixels.nii", nii.substr(0, 352 + 40), "truncated");
  {
    std::string zero = nii;
    const float pixdim_zero = 0;
    std::memcpy(zero.data() + 80, &pixdim_zero, 4);  // pixdim[1]
    add("zero_spacing.nii", zero, "spacing");
    std::string negative = nii;
    const float pixdim_negative = -2;
    std::memcpy(negative.data() + 84, &pixdim_negative, 4);  // pixdim[2]
    add("negative_spacing.nii", negative, "spacing");
    std::string nan = nii;
    const float not_a_number = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(nan.data() + 352 + 4 * 7, &not_a_number, 4);
    add("nan_voxel.nii", nan, "non-finite");
    std::string four_d = nii;
    const int16_t dims4[2] = {4, 8};  // dim[0] = 4 dimensions; dim[1] stays 8
    std::memcpy(four_d.data() + 40, &dims4[0], 2);
    const int16_t t = 3;
    std::memcpy(four_d.data() + 48, &t, 2);  // dim[4] = 3 time points
    add("four_d.nii", four_d, "4-dimensional");
  }
  write_volume(gradient_volume(), dir / "whole.nii.gz");
  Volume<float> big;
  big.size = {64, 64, 24};
  big.voxels.resize(static_cast<size_t>(big.num_voxels()));
  for (size_t i = 0; i < big.voxels.size(); ++i) big.voxels[i] = static_cast<float>((i * 2654435761u) % 1000);
  write_volume(big, dir / "big.nii.gz");
  const std::string gz = read_file(dir / "big.nii.gz");
  fs::remove(dir / "whole.nii.gz");
  fs::remove(dir / "big.nii.gz");
  add("empty.nii.gz", "", "NIfTI");
  add("not_gzip.nii.gz", "plain text, not a gzip stream at all", "NIfTI");
  add("gzip_half.nii.gz", gz.substr(0, gz.size() / 2), "truncated");
  add("gzip_no_trailer.nii.gz", gz.substr(0, gz.size() - 8), "truncated");

  // MetaImage, NRRD.
  add("text.mha", "hello, this is a note", "MetaImage");
  add("short_pixels.mha", mha("", "10 10 10", "MET_UCHAR", 100), "truncated");
  add("two_d.mha", mha("", "4 4", "MET_UCHAR", 16), "2D image");
  add("single_slice.mha", mha("", "8 6 1", "MET_UCHAR", 48), "single slice");
  add("four_d.mha", mha("", "4 4 4 2", "MET_UCHAR", 128), "4-dimensional");
  add("rgb.mha", mha("ElementNumberOfChannels = 3\n", "8 6 4", "MET_UCHAR", 8 * 6 * 4 * 3), "components");
  add("absurd_size.mha", mha("", "100000 100000 100000", "MET_UCHAR", 64), "at most");
  add("constant.mha", mha("", "8 6 4", "MET_UCHAR", 8 * 6 * 4), "constant");
  add("zero_spacing.mha", mha("ElementSpacing = 1 0 1\n", "8 6 4", "MET_FLOAT", 0) + float_bytes(ramp(8 * 6 * 4)), "spacing");
  add("singular_direction.mha", mha("TransformMatrix = 1 0 0 1 0 0 0 0 1\n", "8 6 4", "MET_FLOAT", 0) + float_bytes(ramp(8 * 6 * 4)),
      "direction");
  add("skewed_direction.mha",
      mha("TransformMatrix = 1 0 0 0.7071 0.7071 0 0 0 1\n", "8 6 4", "MET_FLOAT", 0) + float_bytes(ramp(8 * 6 * 4)), "direction");
  {
    std::vector<float> with_inf = ramp(8 * 6 * 4);
    with_inf[11] = std::numeric_limits<float>::infinity();
    add("inf_voxel.mha", mha("", "8 6 4", "MET_FLOAT", 0) + float_bytes(with_inf), "non-finite");
  }
  add("missing_raw.mhd",
      "ObjectType = Image\nNDims = 3\nDimSize = 8 6 4\nElementType = MET_UCHAR\nElementDataFile = nowhere.raw\n", "missing");
  write_file(dir / "short.raw", std::string(20, '\x03'));
  add("short_raw.mhd", "ObjectType = Image\nNDims = 3\nDimSize = 8 6 4\nElementType = MET_UCHAR\nElementDataFile = short.raw\n",
      "truncated");
  const std::string nrrd_header = "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 8 6 4\n";
  add("short_pixels.nrrd", nrrd_header + "spacings: 1 1 1\nencoding: raw\n\n" + std::string(30, '\x04'), "truncated");
  {
    std::string ramp_bytes(8 * 6 * 4, '\0');
    for (size_t i = 0; i < ramp_bytes.size(); ++i) ramp_bytes[i] = static_cast<char>(i % 11);
    add("zero_spacing.nrrd", nrrd_header + "spacings: 1 0 1\nencoding: raw\n\n" + ramp_bytes, "spacing");
  }

  // DICOM folders.
  Volume<int16_t> series;
  series.size = {16, 16, 5};
  series.voxels.resize(static_cast<size_t>(series.num_voxels()));
  for (size_t i = 0; i < series.voxels.size(); ++i) series.voxels[i] = static_cast<int16_t>(i % 100);
  const auto add_folder = [&](const std::string& name, const std::string& fault) { out.push_back({name, dir / name, fault}); };
  fs::create_directories(dir / "empty_folder");
  add_folder("empty_folder", "no DICOM series");
  fs::create_directories(dir / "only_a_subfolder/inner");
  add_folder("only_a_subfolder", "no DICOM series");
  fs::create_directories(dir / "garbage_dicom");
  write_file(dir / "garbage_dicom/IM0001.dcm", std::string(400, 'z'));
  write_file(dir / "garbage_dicom/IM0002.dcm", std::string(400, 'y'));
  add_folder("garbage_dicom", "not a DICOM Part 10 file");
  write_dicom_series(series, dir / "dicom_short_pixels");
  {
    const auto victim = dir / "dicom_short_pixels/slice_0002.dcm";
    const std::string bytes = read_file(victim);
    write_file(victim, bytes.substr(0, bytes.size() - 300));
  }
  add_folder("dicom_short_pixels", "DICOM");
  write_dicom_series(series, dir / "dicom_no_pixel_data");
  {
    // Every file ends before its Pixel Data element (7FE0,0010).
    for (const auto& f : fs::directory_iterator(dir / "dicom_no_pixel_data")) {
      const std::string bytes = read_file(f.path());
      const size_t at = bytes.rfind(std::string("\xE0\x7F\x10\x00", 4));
      if (at == std::string::npos) throw std::runtime_error("no pixel data element in " + f.path().string());
      write_file(f.path(), bytes.substr(0, at));
    }
  }
  add_folder("dicom_no_pixel_data", "DICOM");
  write_dicom_series(series, dir / "dicom_one_file");
  for (const auto& f : fs::directory_iterator(dir / "dicom_one_file"))
    if (f.path().filename() != "slice_0000.dcm") fs::remove(f.path());
  add_folder("dicom_one_file", "1 image");
  {
    DicomSeriesOptions a, b;
    a.series_uid = "1.2.826.0.1.3680043.10.999.1";
    b.series_uid = "1.2.826.0.1.3680043.10.999.2";
    write_dicom_series(series, dir / "dicom_two_series/a", a);
    write_dicom_series(series, dir / "dicom_two_series/b", b);
    for (const char* sub : {"a", "b"})
      for (const auto& f : fs::directory_iterator(dir / "dicom_two_series" / sub))
        fs::rename(f.path(), dir / "dicom_two_series" / (std::string(sub) + "_" + f.path().filename().string()));
    fs::remove(dir / "dicom_two_series/a");
    fs::remove(dir / "dicom_two_series/b");
  }
  add_folder("dicom_two_series", "--series");
  // One file's series description claims 1 GiB (GDCM allocated it before finding the file short).
  write_dicom_series(series, dir / "dicom_element_too_long");
  {
    const auto victim = dir / "dicom_element_too_long/slice_0001.dcm";
    std::string bytes = read_file(victim);
    const size_t at = bytes.find(std::string("\x08\x00\x3E\x10", 4));  // (0008,103E), implicit VR
    if (at == std::string::npos) throw std::runtime_error("no series description in " + victim.string());
    bytes.replace(at + 4, 4, std::string("\x00\x00\x00\x40", 4));
    write_file(victim, bytes);
  }
  add_folder("dicom_element_too_long", "announces 1073741824 bytes");
  // Files of a SOP class GDCM does not know, which it reads as legacy ACR-NEMA and may abort on.
  write_dicom_series(series, dir / "dicom_unknown_sop_class");
  for (const auto& f : fs::directory_iterator(dir / "dicom_unknown_sop_class")) {
    std::string bytes = read_file(f.path());
    const std::string mr = "1.2.840.10008.5.1.4.1.1.4", other = "1.2.840.10008.5.1.4.1.1.9";
    for (size_t at = bytes.find(mr + std::string(1, '\0')); at != std::string::npos; at = bytes.find(mr + std::string(1, '\0'), at))
      bytes.replace(at, mr.size(), other);
    write_file(f.path(), bytes);
  }
  add_folder("dicom_unknown_sop_class", "SOP class");
  // Every file announces 65535 x 65535 pixels (a reader would allocate 16 GiB per file).
  write_dicom_series(series, dir / "dicom_absurd_size");
  for (const auto& f : fs::directory_iterator(dir / "dicom_absurd_size")) {
    std::string bytes = read_file(f.path());
    for (const char* tag : {"\x28\x00\x10\x00\x02\x00\x00\x00", "\x28\x00\x11\x00\x02\x00\x00\x00"}) {  // rows, columns
      const size_t at = bytes.find(std::string(tag, 8));
      if (at == std::string::npos) throw std::runtime_error("no rows or columns in " + f.path().string());
      bytes.replace(at + 8, 2, "\xFF\xFF");
    }
    write_file(f.path(), bytes);
  }
  add_folder("dicom_absurd_size", "pixels (at most 2^28");
  // One slice twice (another file name, the same position): GDCM then sorted by instance number
  // and read past its array; no 3D volume has two slices at one place.
  write_dicom_series(series, dir / "dicom_repeated_slice");
  fs::copy_file(dir / "dicom_repeated_slice/slice_0001.dcm", dir / "dicom_repeated_slice/slice_0001_again.dcm");
  add_folder("dicom_repeated_slice", "same slice position");
  // Pixel data in a transfer syntax no decoder here reads (H.264 video).
  write_dicom_series(series, dir / "dicom_h264");
  for (const auto& f : fs::directory_iterator(dir / "dicom_h264"))
    recode_with_encapsulated_pixels(f.path(), EXS_MPEG4HighProfileLevel4_1, std::string(64, '\x11'));
  add_folder("dicom_h264", "needs a decoder");
  // JPEG 2000, which is read, over a fragment that is no JPEG 2000 code stream: refused before
  // GDCM decodes it (its marker parser read past a fragment; OpenJPEG printed on stderr).
  write_dicom_series(series, dir / "dicom_jpeg2000_garbage");
  for (const auto& f : fs::directory_iterator(dir / "dicom_jpeg2000_garbage"))
    recode_with_encapsulated_pixels(f.path(), EXS_JPEG2000LosslessOnly, std::string(64, '\x22'));
  add_folder("dicom_jpeg2000_garbage", "JPEG 2000 pixel data does not start with a JPEG 2000 code stream");
  // Lossless JPEG announced, a progressive frame of 16-bit samples inside (GDCM asserted on it:
  // a folder fuzz crash): the frame must be the process its transfer syntax names.
  write_dicom_series(series, dir / "dicom_jpeg_wrong_process");
  const std::string progressive_frame("\xFF\xD8"                                       // start of image
                                      "\xFF\xC2\x00\x0B\x10\x00\x10\x00\x10\x01\x01\x11\x00"  // 16-bit 16 x 16, one component
                                      "\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00"          // scan header
                                      "\x00\x00\x00\x00\x00\xFF\xD9",                         // data, end of image
                                      32);
  for (const auto& f : fs::directory_iterator(dir / "dicom_jpeg_wrong_process"))
    recode_with_encapsulated_pixels(f.path(), EXS_JPEGProcess14SV1, progressive_frame);
  add_folder("dicom_jpeg_wrong_process", "is no lossless frame, which its transfer syntax announces");
  // RLE whose header announces 131,072 segments (GDCM's decoder read where the header pointed,
  // far past the fragment: a folder fuzz crash). A 16-bit grey frame has two.
  write_dicom_series(series, dir / "dicom_rle_bad_header");
  std::string rle_frame(64 + 16, '\0');
  rle_frame[2] = '\x02';  // 0x00020000 segments, little endian
  rle_frame[4] = '\x40';  // the first segment at 64
  for (const auto& f : fs::directory_iterator(dir / "dicom_rle_bad_header"))
    recode_with_encapsulated_pixels(f.path(), EXS_RLELossless, rle_frame);
  add_folder("dicom_rle_bad_header", "announces 131072 segments");
  // An element whose dictionary VR is OL (a surface mesh's point index list) in an implicit-VR
  // file: ITK copies it into the metadata through GDCM's string filter, which aborts on OL.
  write_dicom_series(series, dir / "dicom_unprintable_vr");
  {
    const auto victim = dir / "dicom_unprintable_vr/slice_0001.dcm";
    std::string bytes = read_file(victim);
    const size_t at = bytes.find(std::string("\xE0\x7F\x10\x00", 4));  // pixel data: (0066,0040) goes just before it
    if (at == std::string::npos) throw std::runtime_error("no pixel data in " + victim.string());
    bytes.insert(at, std::string("\x66\x00\x40\x00\x04\x00\x00\x00\x01\x00\x00\x00", 12));
    write_file(victim, bytes);
  }
  add_folder("dicom_unprintable_vr", "has a dictionary VR (OD, OL, OV, SV or UV)");
  return out;
}

}  // namespace spinescan::testing
