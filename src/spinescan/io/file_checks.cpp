#include "spinescan/io/file_checks.h"

#include <cstring>
#include <fstream>
#include <sstream>

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

// Offset of the voxel data, or 0 when the data is not stored raw in this file.
uint64_t data_offset(const fs::path& path, const std::string& format) {
  const std::string name = lower(path.filename().string());
  if (format == "NIfTI") {
    if (!has_suffix(name, ".nii")) return 0;  // .nii.gz: zlib detects truncation
    const std::string h = read_prefix(path, 352);
    if (h.size() < 348) return 0;  // the header reader reports it
    int32_t sizeof_hdr;
    std::memcpy(&sizeof_hdr, h.data(), 4);
    if (sizeof_hdr == 348) {
      float offset;
      std::memcpy(&offset, h.data() + 108, 4);
      return static_cast<uint64_t>(offset);
    }
    if (sizeof_hdr == 540 && h.size() >= 176) {
      const std::string h2 = read_prefix(path, 176);
      int64_t offset;
      std::memcpy(&offset, h2.data() + 168, 8);
      return static_cast<uint64_t>(offset);
    }
    return 0;  // big-endian headers: not checked
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

}  // namespace

void check_file_complete(const fs::path& path, const std::string& format, uint64_t data_bytes) {
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
