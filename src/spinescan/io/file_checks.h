#pragma once
// Truncation checks that ITK does not make: its NIfTI and MetaImage readers return a volume
// from a file cut short (the missing voxels are left as whatever memory held), and GDCM reads
// a DICOM file whose pixel data ends early. Each function throws DataError naming the file.
#include <cstdint>
#include <filesystem>
#include <string>

namespace spinescan {

// Single-file formats: the file must hold header + data_bytes. `format` is "NIfTI",
// "MetaImage" or "NRRD". A .nii.gz must decompress without error to header + data_bytes
// (zlib's readers as ITK uses them return a short stream without a word); compressed
// MetaImage and NRRD data are left to their decompressors.
void check_file_complete(const std::filesystem::path& path, const std::string& format, uint64_t data_bytes);

// The Pixel Data element (7FE0,0010) of an uncompressed little-endian DICOM file must fit in
// the file. Encapsulated (compressed) pixel data is not checked.
void check_dicom_pixel_data_complete(const std::filesystem::path& path);

}  // namespace spinescan
