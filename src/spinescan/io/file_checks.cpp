#include "spinescan/io/file_checks.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "spinescan/core/errors.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

std::string read_prefix(const fs::path& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Offset of the voxel data from the first bytes of a NIfTI-1 or NIfTI-2 header (either byte
// order); 0 when the bytes are no whole header (the header reader reports that).
uint64_t nifti_data_offset(const std::string& h) {
  if (h.size() < 348) return 0;
  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, h.data(), 4);
  const bool swapped = sizeof_hdr == 0x5C010000 || sizeof_hdr == 0x1C020000;  // 348 or 540, other byte order
  auto field = [&](size_t at, size_t bytes) {
    std::string b = h.substr(at, bytes);
    if (swapped) std::reverse(b.begin(), b.end());
    return b;
  };
  if (sizeof_hdr == 348 || sizeof_hdr == 0x5C010000) {
    float offset;
    std::memcpy(&offset, field(108, 4).data(), 4);
    return offset > 0 && offset < 1e15f ? static_cast<uint64_t>(offset) : 0;  // (rejects NaN too)
  }
  if ((sizeof_hdr == 540 || sizeof_hdr == 0x1C020000) && h.size() >= 176) {
    int64_t offset;
    std::memcpy(&offset, field(168, 8).data(), 8);
    return offset > 0 && offset < int64_t{1} << 50 ? static_cast<uint64_t>(offset) : 0;
  }
  return 0;
}

// Offset of the voxel data, or 0 when the data is not stored raw in this file.
uint64_t data_offset(const fs::path& path, const std::string& format) {
  const std::string name = lower(path.filename().string());
  if (format == "NIfTI") {
    if (!has_suffix(name, ".nii")) return 0;  // .nii.gz: check_gzip_complete
    return nifti_data_offset(read_prefix(path, 540));
  }
  const std::string header = read_prefix(path, 1 << 16);
  const std::string lheader = lower(header);
  if (format == "MetaImage") {
    if (!has_suffix(name, ".mha") || lheader.find("compresseddata = true") != std::string::npos) return 0;
    const auto key = lheader.find("elementdatafile");
    if (key == std::string::npos) return 0;
    const auto eol = header.find('\n', key);
    if (eol == std::string::npos || lheader.substr(key, eol - key).find("local") == std::string::npos) return 0;
    return eol + 1;
  }
  if (format == "NRRD") {
    if (!has_suffix(name, ".nrrd") || lheader.find("encoding: raw") == std::string::npos) return 0;
    const auto blank = header.find("\n\n");
    return blank == std::string::npos ? 0 : blank + 2;
  }
  return 0;
}

uint32_t le32(const std::string& s, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[at + 3])) << 24;
}

// A gzip-compressed NIfTI (.nii.gz) must decompress, without error, to at least header + data
// bytes. ITK's reader does not check this: a stream cut inside the voxels is read as a whole
// volume, the missing voxels left as whatever memory held. The gzip trailer's ISIZE (the
// uncompressed size mod 2^32) settles the common case from the last 4 bytes; a file whose
// ISIZE says otherwise (cut, padded, several members) is decompressed once to be sure.
void check_gzip_nifti_complete(const fs::path& path, uint64_t data_bytes) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
  SPINESCAN_CHECK(gz != nullptr, path.string(), ": cannot open for reading");
  gzbuffer(gz.get(), 1 << 17);
  std::string header(540, '\0');
  const int got = gzread(gz.get(), header.data(), static_cast<unsigned>(header.size()));
  header.resize(got > 0 ? static_cast<size_t>(got) : 0);
  const uint64_t offset = nifti_data_offset(header);
  if (offset == 0) return;  // no whole header: the header reader reports it
  const uint64_t expected = offset + data_bytes;
  const uint64_t file_size = fs::file_size(path);
  if (file_size >= 18) {  // 10-byte gzip header, 8-byte trailer
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(file_size - 4));
    std::string tail(4, '\0');
    in.read(tail.data(), 4);
    if (in && le32(tail, 0) == static_cast<uint32_t>(expected & 0xFFFFFFFFu) && expected < (uint64_t{1} << 32)) return;
  }
  uint64_t total = header.size();
  std::vector<char> buffer(1 << 20);
  int n;
  while ((n = gzread(gz.get(), buffer.data(), static_cast<unsigned>(buffer.size()))) > 0) total += static_cast<uint64_t>(n);
  int code = Z_OK;
  const char* message = gzerror(gz.get(), &code);
  SPINESCAN_CHECK(n == 0 && code == Z_OK, path.string(), ": ",
                  code == Z_BUF_ERROR ? "truncated gzip stream (it ends before its end-of-stream trailer"
                                      : std::string("corrupt gzip stream (") + message,
                  "; ", total, " of the ", expected, " bytes the header announces decompressed)");
  SPINESCAN_CHECK(total >= expected, path.string(), ": truncated NIfTI data (", total, " bytes decompressed, the header announces ",
                  expected, ")");
}
}  // namespace

void check_file_complete(const fs::path& path, const std::string& format, uint64_t data_bytes) {
  if (format == "NIfTI" && has_suffix(lower(path.filename().string()), ".nii.gz")) return check_gzip_nifti_complete(path, data_bytes);
  const uint64_t offset = data_offset(path, format);
  if (offset == 0) return;
  const uint64_t size = fs::file_size(path);
  SPINESCAN_CHECK(size >= offset + data_bytes, path.string(), ": truncated ", format, " file (", size,
                  " bytes, the header announces ", offset + data_bytes, ")");
}

void check_dicom_pixel_data_complete(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  const std::string bytes = s.str();
  static const std::string tag("\xE0\x7F\x10\x00", 4);  // (7FE0,0010), little endian
  const auto at = bytes.rfind(tag);
  if (at == std::string::npos) return;  // not an image file; the reader reports it
  uint64_t value_start, length;
  if (at + 12 <= bytes.size() && (bytes.compare(at + 4, 2, "OW") == 0 || bytes.compare(at + 4, 2, "OB") == 0)) {
    length = le32(bytes, at + 8);  // explicit VR: tag, VR, 2 reserved bytes, 4-byte length
    value_start = at + 12;
  } else if (at + 8 <= bytes.size()) {
    length = le32(bytes, at + 4);  // implicit VR: tag, 4-byte length
    value_start = at + 8;
  } else {
    throw DataError(path.string() + ": truncated DICOM file (pixel data header cut)");
  }
  if (length == 0xFFFFFFFFu) return;  // encapsulated
  SPINESCAN_CHECK(value_start + length <= bytes.size(), path.string(), ": truncated DICOM file (pixel data holds ",
                  bytes.size() - value_start, " of ", length, " bytes)");
}

}  // namespace spinescan
