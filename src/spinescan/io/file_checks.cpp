#include "spinescan/io/file_checks.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
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

// What the checks need from a NIfTI-1 or NIfTI-2 header; `valid` false when the bytes are no
// whole header (the header reader reports that).
struct NiftiFacts {
  bool valid = false, swapped = false;
  uint64_t data_offset = 0;      // 0 when invalid or absurd (rejects NaN too)
  int16_t datatype = 0;          // 16 float32, 64 float64
  int16_t num_dims = 0;
  double pixdim[3] = {0, 0, 0};  // as written: ITK reads 0 as 1 and a negative one by its size
};

NiftiFacts nifti_facts(const std::string& h) {
  NiftiFacts f;
  if (h.size() < 348) return f;
  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, h.data(), 4);
  f.swapped = sizeof_hdr == 0x5C010000 || sizeof_hdr == 0x1C020000;
  auto field = [&](size_t at, size_t bytes) {
    std::string b = h.substr(at, bytes);
    if (f.swapped) std::reverse(b.begin(), b.end());
    return b;
  };
  if (sizeof_hdr == 348 || sizeof_hdr == 0x5C010000) {
    float offset;
    std::memcpy(&offset, field(108, 4).data(), 4);
    f.data_offset = offset > 0 && offset < 1e15f ? static_cast<uint64_t>(offset) : 0;
    std::memcpy(&f.num_dims, field(40, 2).data(), 2);
    std::memcpy(&f.datatype, field(70, 2).data(), 2);
    for (int a = 0; a < 3; ++a) {
      float v;
      std::memcpy(&v, field(80 + 4 * static_cast<size_t>(a), 4).data(), 4);
      f.pixdim[a] = v;
    }
    f.valid = true;
  } else if ((sizeof_hdr == 540 || sizeof_hdr == 0x1C020000) && h.size() >= 540) {
    int64_t offset;
    std::memcpy(&offset, field(168, 8).data(), 8);
    f.data_offset = offset > 0 && offset < int64_t{1} << 50 ? static_cast<uint64_t>(offset) : 0;
    int64_t dims;
    std::memcpy(&dims, field(16, 8).data(), 8);
    f.num_dims = static_cast<int16_t>(dims);
    std::memcpy(&f.datatype, field(12, 2).data(), 2);
    for (int a = 0; a < 3; ++a) std::memcpy(&f.pixdim[a], field(112 + 8 * static_cast<size_t>(a), 8).data(), 8);
    f.valid = true;
  }
  return f;
}

// Offset of the voxel data from the first bytes of a NIfTI-1 or NIfTI-2 header (either byte
// order); 0 when the bytes are no whole header (the header reader reports that).
uint64_t nifti_data_offset(const std::string& h) { return nifti_facts(h).data_offset; }

void check_nifti_spacing(const fs::path& path, const NiftiFacts& f) {
  if (!f.valid) return;
  for (int a = 0; a < std::min<int>(3, f.num_dims); ++a)
    SPINESCAN_CHECK(f.pixdim[a] > 0 && std::isfinite(f.pixdim[a]), path.string(), ": invalid spacing ", f.pixdim[a],
                    " mm along axis ", a, " in the NIfTI header");
}

// NIfTI's reading library turns NaN and Inf voxels into 0 without a word; they are refused
// before it sees them. `read(buffer, bytes)` returns the bytes read (0 at the end).
template <class Read>
void check_nifti_floats_finite(const fs::path& path, const NiftiFacts& f, uint64_t data_bytes, Read read) {
  if (!f.valid || (f.datatype != 16 && f.datatype != 64)) return;
  const size_t value_bytes = f.datatype == 16 ? 4 : 8;
  std::vector<char> buffer(1 << 20);  // a multiple of both value sizes
  uint64_t done = 0;
  while (done < data_bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), data_bytes - done));
    const size_t got = read(buffer.data(), want);
    if (got == 0) return;  // short: the completeness check reports it
    for (size_t i = 0; i + value_bytes <= got; i += value_bytes) {
      char v[8];
      std::memcpy(v, buffer.data() + i, value_bytes);
      if (f.swapped) std::reverse(v, v + value_bytes);
      double x;
      if (value_bytes == 4) {
        float y;
        std::memcpy(&y, v, 4);
        x = y;
      } else {
        std::memcpy(&x, v, 8);
      }
      SPINESCAN_CHECK(std::isfinite(x), path.string(), ": volume holds non-finite values (NaN or Inf)");
    }
    done += got;
  }
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
  const NiftiFacts facts = nifti_facts(header);
  check_nifti_spacing(path, facts);
  const uint64_t expected = offset + data_bytes;
  if (facts.datatype == 16 || facts.datatype == 64) {
    // Float voxels are read once more here to find NaN and Inf (a short stream ends the scan
    // quietly; the completeness check below reports it).
    std::unique_ptr<gzFile_s, int (*)(gzFile)> data(gzopen(path.c_str(), "rb"), gzclose);
    SPINESCAN_CHECK(data != nullptr, path.string(), ": cannot open for reading");
    gzbuffer(data.get(), 1 << 17);
    SPINESCAN_CHECK(gzseek(data.get(), static_cast<z_off_t>(offset), SEEK_SET) == static_cast<z_off_t>(offset), path.string(),
                    ": truncated gzip stream (it ends inside the NIfTI header)");
    check_nifti_floats_finite(path, facts, data_bytes, [&](char* b, size_t n) {
      const int got = gzread(data.get(), b, static_cast<unsigned>(n));
      return got > 0 ? static_cast<size_t>(got) : size_t{0};
    });
  }
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
// A MetaImage header (.mhd) names its data file: it must exist and, uncompressed, hold the
// voxels. MetaIO itself prints its complaints on stderr and reads a short file as whole.
void check_metaimage_data_file(const fs::path& path, uint64_t data_bytes) {
  const std::string header = read_prefix(path, 1 << 16);
  const std::string lheader = lower(header);
  const auto key = lheader.find("elementdatafile");
  if (key == std::string::npos) return;  // the header reader reports it
  const auto eq = header.find('=', key);
  const auto eol = header.find('\n', key);
  if (eq == std::string::npos || (eol != std::string::npos && eq > eol)) return;
  std::string value = header.substr(eq + 1, eol == std::string::npos ? std::string::npos : eol - eq - 1);
  value.erase(0, value.find_first_not_of(" \t"));
  value.erase(value.find_last_not_of(" \t\r") + 1);
  // LOCAL: the data follows the header (treated like .mha); LIST or a printf pattern names
  // several files, which are left to the reader.
  if (value.empty() || lower(value) == "local" || lower(value).rfind("list", 0) == 0 || value.find('%') != std::string::npos ||
      value.find(' ') != std::string::npos)
    return;
  const fs::path data = fs::path(value).is_absolute() ? fs::path(value) : path.parent_path() / value;
  SPINESCAN_CHECK(fs::is_regular_file(data), path.string(), ": its data file ", value, " is missing");
  if (lheader.find("compresseddata = true") != std::string::npos) return;
  const uint64_t size = fs::file_size(data);
  SPINESCAN_CHECK(size >= data_bytes, path.string(), ": truncated MetaImage data file ", value, " (", size,
                  " bytes, the header announces ", data_bytes, ")");
}

}  // namespace

void check_file_complete(const fs::path& path, const std::string& format, uint64_t data_bytes) {
  const std::string name = lower(path.filename().string());
  if (format == "NIfTI" && has_suffix(name, ".nii.gz")) return check_gzip_nifti_complete(path, data_bytes);
  if (format == "MetaImage" && has_suffix(name, ".mhd")) return check_metaimage_data_file(path, data_bytes);
  const uint64_t offset = data_offset(path, format);
  if (offset == 0) return;
  const uint64_t size = fs::file_size(path);
  SPINESCAN_CHECK(size >= offset + data_bytes, path.string(), ": truncated ", format, " file (", size,
                  " bytes, the header announces ", offset + data_bytes, ")");
  if (format == "NIfTI") {
    const NiftiFacts facts = nifti_facts(read_prefix(path, 540));
    check_nifti_spacing(path, facts);
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    check_nifti_floats_finite(path, facts, data_bytes, [&](char* b, size_t n) {
      in.read(b, static_cast<std::streamsize>(n));
      return static_cast<size_t>(in.gcount());
    });
  }
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
