#include "spinescan/io/file_checks.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>
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

// Compressed voxel data from `offset` of `path` (zlib or gzip framing, as MetaIO and NRRD
// write it) must inflate without error, to its end-of-stream marker, into at least
// `data_bytes`. MetaIO returns a volume from a stream cut short without a word.
void check_compressed_data_complete(const fs::path& path, uint64_t offset, uint64_t data_bytes, const char* what) {
  std::ifstream in(path, std::ios::binary);
  SPINESCAN_CHECK(in, path.string(), ": cannot open for reading");
  in.seekg(static_cast<std::streamoff>(offset));
  z_stream z{};
  SPINESCAN_CHECK(inflateInit2(&z, 15 + 32) == Z_OK, path.string(), ": cannot start decompressing");  // 15 + 32: zlib or gzip
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  std::vector<unsigned char> input(1 << 16), output(1 << 18);
  uint64_t total = 0;
  int code = Z_OK;
  while (code != Z_STREAM_END) {
    in.read(reinterpret_cast<char*>(input.data()), static_cast<std::streamsize>(input.size()));
    const auto got = static_cast<uInt>(in.gcount());
    if (got == 0) break;
    z.next_in = input.data();
    z.avail_in = got;
    while (z.avail_in > 0 && code != Z_STREAM_END) {
      z.next_out = output.data();
      z.avail_out = static_cast<uInt>(output.size());
      code = inflate(&z, Z_NO_FLUSH);
      SPINESCAN_CHECK(code == Z_OK || code == Z_STREAM_END || code == Z_BUF_ERROR, path.string(), ": corrupt compressed ",
                      what, " data (", z.msg ? z.msg : "zlib error", ")");
      total += output.size() - z.avail_out;
      if (code == Z_BUF_ERROR) break;  // needs more input
    }
  }
  SPINESCAN_CHECK(code == Z_STREAM_END, path.string(), ": truncated compressed ", what, " data (it ends before its end-of-stream marker; ",
                  total, " of the ", data_bytes, " bytes the header announces decompressed)");
  SPINESCAN_CHECK(total >= data_bytes, path.string(), ": truncated ", what, " data (", total,
                  " bytes decompressed, the header announces ", data_bytes, ")");
}

// One line of a MetaImage header as MetaIO reads it: the field name before the first '=' and
// the value after it, both trimmed of blanks (a CR line end too); `has_equals` false when the
// line holds no '='. The one splitter of the header checks and of metaimage_field.
struct MetaImageLine {
  std::string key, value;
  bool has_equals = false;
};

MetaImageLine split_metaimage_line(const std::string& line) {
  MetaImageLine out;
  const auto eq = line.find('=');
  if (eq == std::string::npos) return out;
  out.has_equals = true;
  out.key = line.substr(0, eq);
  out.value = line.substr(eq + 1);
  out.key.erase(0, out.key.find_first_not_of(" \t"));
  out.key.erase(out.key.find_last_not_of(" \t") + 1);
  out.value.erase(0, out.value.find_first_not_of(" \t"));
  out.value.erase(out.value.find_last_not_of(" \t\r") + 1);
  return out;
}

// A MetaImage header field as MetaIO reads it: the line whose name is `name`, case-sensitive,
// up to the ElementDataFile line that ends the header; its value, and where its line ends. A
// substring elsewhere (an ObjectType value that reads "elementdatafile...") is no field: the
// checks below once looked at such a line and let a compressed .mha without a size through to
// MetaIO, which allocated 2^63 bytes.
struct MetaImageField {
  std::string value;
  size_t line_end = 0;  // the '\n' that ends its line, or the header's size
};

std::optional<MetaImageField> metaimage_field(const std::string& header, const std::string& name) {
  size_t at = 0;
  while (at < header.size()) {
    size_t eol = header.find('\n', at);
    if (eol == std::string::npos) eol = header.size();
    const MetaImageLine line = split_metaimage_line(header.substr(at, eol - at));
    if (line.has_equals) {
      if (line.key == name) return MetaImageField{line.value, eol};
      if (line.key == "ElementDataFile") return std::nullopt;
    }
    at = eol + 1;
  }
  return std::nullopt;
}

// MetaIO takes a boolean field as true when its value starts with T, t or 1.
bool metaimage_compressed(const std::string& header) {
  const auto field = metaimage_field(header, "CompressedData");
  return field && !field->value.empty() && (field->value[0] == 'T' || field->value[0] == 't' || field->value[0] == '1');
}

// Where a single file's own voxel data begins (0: elsewhere, or in an encoding not checked
// here), and whether it is compressed: a .nii's vox_offset; an .mha's data after its
// "ElementDataFile = LOCAL" line (compressed with "CompressedData = True"); a .nrrd's data
// after the blank line that ends its header, raw or gzip.
struct LocalVoxelData {
  uint64_t offset = 0;
  bool compressed = false;
};

LocalVoxelData local_voxel_data(const fs::path& path, const std::string& format) {
  const std::string name = lower(path.filename().string());
  if (format == "NIfTI") {
    if (!has_suffix(name, ".nii")) return {};  // .nii.gz: check_gzip_nifti_complete
    return {nifti_data_offset(read_prefix(path, 540)), false};
  }
  const std::string header = read_prefix(path, 1 << 16);
  if (format == "MetaImage") {
    if (!has_suffix(name, ".mha")) return {};
    const auto data_file = metaimage_field(header, "ElementDataFile");
    if (!data_file || lower(data_file->value) != "local" || data_file->line_end >= header.size()) return {};
    return {data_file->line_end + 1, metaimage_compressed(header)};
  }
  if (format == "NRRD") {
    const std::string lheader = lower(header);  // the encoding field matched regardless of case
    const bool gzip = lheader.find("encoding: gzip") != std::string::npos || lheader.find("encoding: gz") != std::string::npos;
    if (!has_suffix(name, ".nrrd") || (!gzip && lheader.find("encoding: raw") == std::string::npos)) return {};
    const auto blank = header.find("\n\n");
    return {blank == std::string::npos ? 0 : blank + 2, gzip};
  }
  return {};
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
  const auto field = metaimage_field(header, "ElementDataFile");
  if (!field) return;  // the header reader reports it
  const std::string& value = field->value;
  // LOCAL: the data follows the header. LIST or a printf pattern names one file per slice,
  // which MetaIO reads past the end of its buffers when they are missing or malformed.
  if (value.empty() || lower(value) == "local") return;
  SPINESCAN_CHECK(lower(value).rfind("list", 0) != 0 && value.find('%') == std::string::npos && value.find(' ') == std::string::npos,
                  path.string(), ": its ElementDataFile names several files; spinescan reads a MetaImage whose voxels are in one file");
  const fs::path data = fs::path(value).is_absolute() ? fs::path(value) : path.parent_path() / value;
  // The data file's name is not printed: it comes from the header (it may hold binary bytes,
  // or a patient's name as the study's own file name may).
  SPINESCAN_CHECK(fs::is_regular_file(data), path.string(), ": the data file its ElementDataFile names is missing");
  if (metaimage_compressed(header)) return check_compressed_data_complete(data, 0, data_bytes, "MetaImage");
  const uint64_t size = fs::file_size(data);
  SPINESCAN_CHECK(size >= data_bytes, path.string(), ": truncated MetaImage data file (", size,
                  " bytes, the header announces ", data_bytes, ")");
}

}  // namespace

void check_nifti_header(const fs::path& path) {
  std::string h(540, '\0');
  {
    // gzread reads a plain file as it is, so one path serves .nii and .nii.gz.
    std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
    SPINESCAN_CHECK(gz != nullptr, path.string(), ": cannot open for reading");
    const int got = gzread(gz.get(), h.data(), static_cast<unsigned>(h.size()));
    h.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  const auto fail = [&](const std::string& why) { throw DataError(path.string() + ": not a readable NIfTI header (" + why + ")"); };
  if (h.size() < 348) fail("shorter than 348 bytes");
  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, h.data(), 4);
  const bool swapped = sizeof_hdr == 0x5C010000 || sizeof_hdr == 0x1C020000;
  const bool nifti2 = sizeof_hdr == 540 || sizeof_hdr == 0x1C020000;
  if (!(sizeof_hdr == 348 || sizeof_hdr == 0x5C010000 || nifti2)) fail("its size field is neither 348 nor 540");
  if (nifti2 && h.size() < 540) fail("a NIfTI-2 header shorter than 540 bytes");
  // The single-file magic. Without it the library reads an ANALYZE 7.5 header, whose
  // orientation is undefined and whose size fields it trusts with no data offset to check.
  if (nifti2 ? h.compare(4, 8, std::string("n+2\0\r\n\032\n", 8)) != 0 : h.compare(344, 4, std::string("n+1\0", 4)) != 0)
    fail("no single-file NIfTI magic (n+1 or n+2); ANALYZE 7.5 and header/image pairs are not read");
  const auto bytes = [&](size_t at, size_t n) {
    std::string b = h.substr(at, n);
    if (swapped) std::reverse(b.begin(), b.end());
    return b;
  };
  const auto integer = [&](size_t at, size_t n) -> int64_t {
    const std::string b = bytes(at, n);
    if (n == 2) { int16_t v; std::memcpy(&v, b.data(), 2); return v; }
    if (n == 4) { int32_t v; std::memcpy(&v, b.data(), 4); return v; }
    int64_t v; std::memcpy(&v, b.data(), 8); return v;
  };
  const auto real = [&](size_t at, size_t n) -> double {
    const std::string b = bytes(at, n);
    if (n == 4) { float v; std::memcpy(&v, b.data(), 4); return v; }
    double v; std::memcpy(&v, b.data(), 8); return v;
  };
  // Field offsets of the NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers.
  const size_t int_bytes = nifti2 ? 8 : 2, real_bytes = nifti2 ? 8 : 4;
  const size_t dim_at = nifti2 ? 16 : 40, datatype_at = nifti2 ? 12 : 70, pixdim_at = nifti2 ? 104 : 76;
  const int64_t num_dims = integer(dim_at, int_bytes);
  if (num_dims < 2 || num_dims > 7) fail("dim[0] is " + std::to_string(num_dims) + ", not 2 to 7");
  // ITK never returned from a 1-D header whose spacing was -1.3e34: spacings are checked here.
  for (int64_t a = 1; a <= std::min<int64_t>(num_dims, 3); ++a) {
    const double spacing = real(pixdim_at + static_cast<size_t>(a) * real_bytes, real_bytes);
    if (!(spacing > 0 && spacing < 1e5)) fail("invalid spacing " + std::to_string(spacing) + " mm along axis " + std::to_string(a - 1));
  }
  for (int64_t a = 1; a <= num_dims; ++a)
    if (integer(dim_at + static_cast<size_t>(a) * int_bytes, int_bytes) < 1) fail("dim[" + std::to_string(a) + "] is below 1");
  // The voxels of a single file start after its header: an offset inside the header (the
  // library then reads from the header's end) or a NaN would leave the size check below
  // without an offset to check the file against.
  const double vox_offset = nifti2 ? static_cast<double>(integer(168, 8)) : real(108, 4);
  if (!(vox_offset >= (nifti2 ? 544 : 352)) || vox_offset > 1e15)
    fail("vox_offset " + std::to_string(vox_offset) + " lies inside the header or is no number");
  const int64_t datatype = integer(datatype_at, 2);
  static const int64_t kTypes[] = {2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304};
  static const int64_t kBits[] = {8, 16, 32, 32, 64, 64, 24, 8, 16, 32, 64, 64, 128, 128, 256, 32};
  const auto type = std::find(std::begin(kTypes), std::end(kTypes), datatype);
  if (type == std::end(kTypes)) fail("unknown datatype " + std::to_string(datatype));
  const int64_t bitpix = integer(nifti2 ? 14 : 72, 2);
  if (bitpix != kBits[type - std::begin(kTypes)])
    fail("bitpix " + std::to_string(bitpix) + " does not match datatype " + std::to_string(datatype));
  // ITK turns these into the image's geometry with an SVD that aborts the process on NaN or Inf.
  std::vector<size_t> reals;
  for (size_t i = 0; i < 8; ++i) reals.push_back(pixdim_at + i * real_bytes);
  const size_t scaling_at = nifti2 ? 176 : 112, quatern_at = nifti2 ? 352 : 256;
  reals.push_back(scaling_at);
  reals.push_back(scaling_at + real_bytes);
  for (size_t i = 0; i < 6 + 12; ++i) reals.push_back(quatern_at + i * real_bytes);  // quatern b c d, qoffset x y z, srow x y z
  for (size_t at : reals)
    if (!std::isfinite(real(at, real_bytes))) fail("a spacing, scaling or orientation field is NaN or infinite");
  // The orientation in use goes through that SVD too, which ran for minutes on a row of 1.7e38
  // beside subnormals: its numbers must be of a size a scanner writes. The transform codes
  // are 0 (none) to 5; a field of an unused transform may hold anything.
  const int64_t qform_code = integer(nifti2 ? 344 : 252, nifti2 ? 4 : 2), sform_code = integer(nifti2 ? 348 : 254, nifti2 ? 4 : 2);
  if (qform_code < 0 || qform_code > 5 || sform_code < 0 || sform_code > 5)
    fail("qform_code " + std::to_string(qform_code) + " or sform_code " + std::to_string(sform_code) + " is not 0 to 5");
  const auto check_range = [&](size_t at, double limit, const char* what) {
    if (std::abs(real(at, real_bytes)) > limit) fail(std::string(what) + " " + std::to_string(real(at, real_bytes)) + " is out of range");
  };
  if (qform_code > 0) {
    for (size_t i = 0; i < 3; ++i) check_range(quatern_at + i * real_bytes, 1.001, "a quaternion parameter");  // b^2 + c^2 + d^2 <= 1
    for (size_t i = 3; i < 6; ++i) check_range(quatern_at + i * real_bytes, 1e7, "a qform offset (mm)");
  }
  if (sform_code > 0)
    for (size_t row = 0; row < 3; ++row)
      for (size_t col = 0; col < 4; ++col)
        check_range(quatern_at + (6 + row * 4 + col) * real_bytes, col == 3 ? 1e7 : 1e5, col == 3 ? "an sform offset (mm)" : "an sform entry");
}

void check_nrrd_header(const fs::path& path) {
  const std::string header = read_prefix(path, 1 << 16);
  if (header.rfind("NRRD000", 0) != 0) throw DataError(path.string() + ": not a NRRD file (no NRRD000 magic)");
  size_t at = 0;
  int line_number = 0;
  while (at < header.size()) {
    size_t eol = header.find('\n', at);
    const bool last = eol == std::string::npos;
    if (last) eol = header.size();
    ++line_number;
    // teem formats its complaint about a field, with the field, into a fixed 1 KiB buffer on the
    // stack (biffAddf) and overwrites the stack past it.
    if (eol - at > 512)
      throw DataError(detail::concat(path.string(), ": not a readable NRRD header (line ", line_number, " is longer than 512 characters)"));
    if (eol == at || (eol == at + 1 && header[at] == '\r')) return;  // the blank line that ends the header
    at = eol + 1;
  }
  // A detached header (.nhdr) may simply end; an attached one's data starts after a blank line.
  if (lower(path.filename().string()).size() >= 5 && has_suffix(lower(path.filename().string()), ".nhdr") && header.size() < (1u << 16))
    return;
  throw DataError(path.string() + ": not a readable NRRD header (no blank line ends it in its first 64 KiB)");
}

void check_metaimage_header(const fs::path& path) {
  const std::string header = read_prefix(path, 1 << 16);
  size_t at = 0;
  int line_number = 0;
  long num_dims = -1;
  while (at < header.size()) {
    size_t eol = header.find('\n', at);
    if (eol == std::string::npos) eol = header.size();
    std::string line = header.substr(at, eol - at);
    ++line_number;
    at = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto fail = [&](const std::string& why) {
      throw DataError(detail::concat(path.string(), ": not a readable MetaImage header (line ", line_number, ": ", why, ")"));
    };
    // MetaIO copies names and values into fixed 255-byte buffers unchecked.
    if (line.size() > 255) fail("longer than 255 characters");
    const MetaImageLine field = split_metaimage_line(line);
    if (!field.has_equals) fail("no '='");
    const std::string& key = field.key;
    const std::string& value = field.value;
    if (key.empty() || key.size() > 64 ||
        !std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
      fail("a field name holds other than letters, digits and '_'");
    // Whole numbers in a value: all of them, or nothing when any word is not one.
    const auto whole_numbers = [](const std::string& v) {
      std::vector<long> out;
      std::istringstream words(v);
      std::string word;
      while (words >> word) {
        char* end = nullptr;
        const long n = std::strtol(word.c_str(), &end, 10);
        if (end == word.c_str() || *end != '\0') return std::vector<long>{};
        out.push_back(n);
      }
      return out;
    };
    // MetaIO matches field names as written (case-sensitive).
    if (key == "NDims") {
      // MetaIO sizes its per-axis arrays (DimSize, ElementSpacing, ...) by NDims in 255-value buffers.
      const auto n = whole_numbers(value);
      if (n.size() != 1 || n[0] < 1 || n[0] > 8) fail("NDims must be a whole number from 1 to 8");
      num_dims = n[0];
    }
    if (key == "DimSize") {
      // MetaIO divides by these sizes.
      const auto sizes = whole_numbers(value);
      if (sizes.empty() || static_cast<long>(sizes.size()) != num_dims ||
          std::any_of(sizes.begin(), sizes.end(), [](long n) { return n < 1; }))
        fail("DimSize must be NDims whole numbers of at least 1, after NDims");
    }
    if (key == "CompressedDataSize" || key == "HeaderSize") {
      // MetaIO allocates CompressedDataSize bytes as given (a negative one wraps to 2^64).
      const auto n = whole_numbers(value);
      const long lowest = key == "HeaderSize" ? -1 : 1;  // HeaderSize -1: "find the data at the file's end"
      // An .mha holds the data it sizes; an .mhd's data file is checked once it is known.
      const uint64_t highest = has_suffix(lower(path.filename().string()), ".mhd") ? uint64_t{1} << 34 : fs::file_size(path);
      if (n.size() != 1 || n[0] < lowest || static_cast<uint64_t>(std::max(0L, n[0])) > highest)
        fail(key + " must be a whole number from " + std::to_string(lowest) + " to the size of the data");
    }
    if (key == "ElementNumberOfChannels") {
      const auto n = whole_numbers(value);
      if (n.size() != 1 || n[0] < 1 || n[0] > 64) fail("ElementNumberOfChannels must be a whole number from 1 to 64");
    }
    if (key == "ElementDataFile") {  // the last header field; data or file names follow
      // MetaIO sizes compressed data it is not told the size of from the stream's end, which
      // for an empty ElementDataFile was a failed stream: it allocated 2^63 bytes.
      if (value.empty()) fail("ElementDataFile names no data (LOCAL or a file)");
      if (metaimage_compressed(header) && !metaimage_field(header, "CompressedDataSize"))
        fail("compressed data without a CompressedDataSize");
      return;
    }
  }
  throw DataError(path.string() + ": not a readable MetaImage header (no ElementDataFile field in its first 64 KiB)");
}

void check_file_complete(const fs::path& path, const std::string& format, uint64_t data_bytes) {
  const std::string name = lower(path.filename().string());
  if (format == "NIfTI" && has_suffix(name, ".nii.gz")) return check_gzip_nifti_complete(path, data_bytes);
  // An .mha normally holds its voxels (LOCAL) but may name a data file, as an .mhd does.
  if (format == "MetaImage") check_metaimage_data_file(path, data_bytes);
  if (format == "MetaImage" && has_suffix(name, ".mhd")) return;
  const auto [offset, compressed] = local_voxel_data(path, format);
  if (offset == 0) return;
  if (compressed) return check_compressed_data_complete(path, offset, data_bytes, format.c_str());
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

namespace {

// A structural walk of a DICOM file (PS3.10 file meta group, then the data set in its transfer
// syntax): every element's length fits inside what holds it (file, sequence, item), every
// explicit VR is a real one, sequences and items are delimited and nested at most
// kMaxDicomDepth deep. GDCM, as Debian builds it, aborts the whole process on some malformed
// elements (an assert in its explicit-VR reader), and allocates whatever length an element
// claims (1 GiB for a 2 kB file) before finding the file too short; it never sees a file that
// fails this walk.
constexpr int kMaxDicomDepth = 16;

class DicomWalk {
 public:
  DicomWalk(const fs::path& path, const std::string& bytes) : path_(path), b_(bytes) {}

  DicomFileFacts run() {
    // Part 10 only: GDCM reads a file without the preamble, or of a SOP class it does not know,
    // as a legacy ACR-NEMA file, and aborts on some of those (an assert on the recognition code).
    if (b_.size() < 132 || b_.compare(128, 4, "DICM") != 0) fail("no \"DICM\" preamble: not a DICOM Part 10 file", 0);
    size_t at = 132;
    std::string syntax, sop_class;
    uint32_t previous_tag = 0;
    while (at + 8 <= b_.size() && u16(at, false) == 0x0002) {
      const size_t before = at;
      const uint32_t tag = static_cast<uint32_t>(u16(at, false)) << 16 | u16(at + 2, false);
      if (before > 132 && tag <= previous_tag) fail("file meta elements out of ascending order or repeated", at);
      previous_tag = tag;
      at = element(at, b_.size(), 0, true, false);
      if (u16(before + 2, false) == 0x0010) syntax = value_text(before);
      if (u16(before + 2, false) == 0x0002) sop_class = value_text(before);
    }
    if (!readable_sop_class(sop_class))
      fail("media storage SOP class '" + sop_class + "' is none of the image storages spinescan reads (MR, CT, secondary capture) nor a DICOMDIR", 132);
    if (syntax == "1.2.840.10008.1.2.1.99") fail("its transfer syntax is deflated explicit VR, which spinescan does not read", at);
    syntax_ = syntax;
    if (!syntax.empty() && !decodable_transfer_syntax(syntax))
      throw DataError(path_.string() + ": its transfer syntax " + syntax +
                      " needs a decoder spinescan lacks (it reads uncompressed, RLE, JPEG, JPEG-LS and JPEG 2000 pixel data)");
    const bool explicit_vr = syntax != "1.2.840.10008.1.2";
    big_endian_ = syntax == "1.2.840.10008.1.2.2";
    if (at >= b_.size()) fail("it holds no data set", at);
    elements(at, b_.size(), 0, explicit_vr, false);
    DicomFileFacts facts;
    if (sop_class == "1.2.840.10008.1.3.10") return facts;  // a DICOMDIR: no image
    check_image_attributes(sop_class);
    facts.image = true;
    for (char c : value_of(0x0020000Eu))  // GDCM's series key: the UID without any other character
      if (c == '.' || std::isalnum(static_cast<unsigned char>(c))) facts.series_key += c;
    const auto position = numbers_of(0x00200032u), orientation = numbers_of(0x00200037u);
    if (position.size() == 3 && orientation.size() == 6) {
      facts.has_geometry = true;
      std::copy(position.begin(), position.end(), facts.position.begin());
      std::copy(orientation.begin(), orientation.end(), facts.orientation.begin());
    }
    return facts;
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw DataError(detail::concat(path_.string(), ": not a well-formed DICOM file (", what, ", at byte ", at, ")"));
  }
  // A recorded top-level element's text without padding; empty when absent.
  std::string value_of(uint32_t tag) const {
    const auto found = top_level_.find(tag);
    if (found == top_level_.end()) return "";
    std::string v = b_.substr(found->second.first, found->second.second);
    while (!v.empty() && (v.back() == '\0' || v.back() == ' ')) v.pop_back();
    return v;
  }
  // Its backslash-separated decimal numbers (check_image_attributes has checked them).
  std::vector<double> numbers_of(uint32_t tag) const {
    std::vector<double> out;
    const std::string v = value_of(tag);
    if (v.empty()) return out;
    size_t start = 0;
    while (start <= v.size()) {
      const size_t end = std::min(v.find('\\', start), v.size());
      out.push_back(std::strtod(v.substr(start, end - start).c_str(), nullptr));
      start = end + 1;
    }
    return out;
  }
  uint16_t u16(size_t at, bool big) const {
    const auto x = [&](size_t i) { return static_cast<uint16_t>(static_cast<unsigned char>(b_[at + i])); };
    return big ? static_cast<uint16_t>(x(0) << 8 | x(1)) : static_cast<uint16_t>(x(1) << 8 | x(0));
  }
  uint32_t u32(size_t at, bool big) const {
    return big ? static_cast<uint32_t>(u16(at, true)) << 16 | u16(at + 2, true)
               : static_cast<uint32_t>(u16(at + 2, false)) << 16 | u16(at, false);
  }
  // The value of the short-VR element at `at`, without padding (the transfer syntax UID).
  std::string value_text(size_t at) const {
    std::string v = b_.substr(at + 8, u16(at + 6, false));
    while (!v.empty() && (v.back() == '\0' || v.back() == ' ')) v.pop_back();
    return v;
  }
  static bool readable_sop_class(const std::string& uid) {
    static const char* const classes[] = {
        "1.2.840.10008.5.1.4.1.1.4",     "1.2.840.10008.5.1.4.1.1.4.1",   // MR, enhanced MR image storage
        "1.2.840.10008.5.1.4.1.1.2",     "1.2.840.10008.5.1.4.1.1.2.1",   // CT, enhanced CT
        "1.2.840.10008.5.1.4.1.1.7",     "1.2.840.10008.5.1.4.1.1.7.1",   // secondary capture, multi-frame ones
        "1.2.840.10008.5.1.4.1.1.7.2",   "1.2.840.10008.5.1.4.1.1.7.3",   "1.2.840.10008.5.1.4.1.1.7.4",
        "1.2.840.10008.1.3.10"};  // DICOMDIR, often beside a series
    return std::any_of(std::begin(classes), std::end(classes), [&](const char* c) { return uid == c; });
  }
  // What GDCM as Debian builds it decodes (its own RLE, IJG JPEG, CharLS, OpenJPEG). Anything
  // else (JPEG XL, HTJ2K, MPEG-2/4 and HEVC video, JPIP, a private or mistyped UID) is refused by
  // name here, before GDCM reads the data set as a layout it may not have.
  static bool decodable_transfer_syntax(const std::string& uid) {
    static const char* const syntaxes[] = {
        "1.2.840.10008.1.2",      "1.2.840.10008.1.2.1",    "1.2.840.10008.1.2.2",     // implicit, explicit, big endian
        "1.2.840.10008.1.2.5",                                                           // RLE lossless
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",  // JPEG baseline, extended, lossless
        "1.2.840.10008.1.2.4.70",                                                        // JPEG lossless, first-order prediction
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",                              // JPEG-LS lossless, near-lossless
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"};                             // JPEG 2000 lossless, lossy
    return std::any_of(std::begin(syntaxes), std::end(syntaxes), [&](const char* s) { return uid == s; });
  }
  static bool known_vr(const std::string& vr) {
    static const std::string all = "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV";
    return vr.size() == 2 && std::isupper(static_cast<unsigned char>(vr[0])) && std::isupper(static_cast<unsigned char>(vr[1])) &&
           all.find(vr) != std::string::npos && all.find(vr) % 3 == 0;
  }
  static bool long_vr(const std::string& vr) {
    for (const char* v : {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})
      if (vr == v) return true;
    return false;
  }

  // The elements of [at, end); in an item of undefined length, up to its delimiter (returns
  // the position after it).
  size_t elements(size_t at, size_t end, int depth, bool explicit_vr, bool until_item_end) {
    uint32_t previous_tag = 0;
    bool first = true;
    while (at < end) {
      if (end - at < 8) fail("an element header is cut short", at);
      const bool big = big_endian_;
      if (u16(at, big) == 0xFFFE) {
        if (until_item_end && u16(at + 2, big) == 0xE00D) return delimiter_end(at, "an item");
        fail("a delimiter where a data element belongs", at);
      }
      // PS3.5 7.1: ascending tags, each once. GDCM keeps the first of a repeated tag and builds
      // inconsistent state from a set out of order.
      const uint32_t tag = static_cast<uint32_t>(u16(at, big)) << 16 | u16(at + 2, big);
      if (!first && tag <= previous_tag) fail("data elements out of ascending order or repeated", at);
      previous_tag = tag;
      first = false;
      at = element(at, end, depth, explicit_vr, big);
    }
    if (until_item_end) fail("an item of undefined length has no delimiter", at);
    return at;
  }

  size_t element(size_t at, size_t end, int depth, bool explicit_vr, bool big) {
    const uint16_t group = u16(at, big), number = u16(at + 2, big);
    std::string vr;
    uint32_t length;
    size_t value;
    if (explicit_vr) {
      vr = b_.substr(at + 4, 2);
      if (!known_vr(vr)) fail(detail::concat("element (", hex(group), ",", hex(number), ") has no valid VR"), at);
      if (long_vr(vr)) {
        if (end - at < 12) fail("an element header is cut short", at);
        length = u32(at + 8, big);
        value = at + 12;
      } else {
        length = u16(at + 6, big);
        value = at + 8;
      }
    } else {
      length = u32(at + 4, big);
      value = at + 8;
    }
    const std::string tag = detail::concat("element (", hex(group), ",", hex(number), ")");
    if (depth == 0) check_printable_vr(group, number, tag, vr, explicit_vr, at);
    if (depth == 0 && explicit_vr) top_level_vr_.emplace(static_cast<uint32_t>(group) << 16 | number, std::make_pair(vr, at));
    if (depth == 0 && length != 0xFFFFFFFFu && length <= end - value &&
        ((group == 0x0028 && number <= 0x0103) || (group == 0x0008 && number == 0x0016) || (group == 0x7FE0 && number == 0x0010) ||
         (group == 0x0020 && (number == 0x0013 || number == 0x0032 || number == 0x0037)) || (group == 0x0008 && number == 0x0010) ||
         (group == 0x0018 && (number == 0x0050 || number == 0x0088)) || (group == 0x0020 && number == 0x000E)))
      top_level_.emplace(static_cast<uint32_t>(group) << 16 | number, std::make_pair(value, length));  // GDCM keeps the first of a repeated tag
    if (depth == 0 && length == 0xFFFFFFFFu && group == 0x7FE0 && number == 0x0010) {
      if (top_level_.emplace(0x7FE00010u, std::make_pair(value, size_t{0})).second) encapsulated_ = true;
    }
    if (length == 0xFFFFFFFFu) {
      if (group == 0x7FE0 && number == 0x0010 && explicit_vr) {
        // Encapsulated pixel data is OB (PS3.5 A.4); GDCM asserts on another VR (UC: a fuzz
        // crash at 104,357 inputs of the file target), OW being the one other it reads.
        if (vr != "OB" && vr != "OW") fail(tag + ": encapsulated pixel data of VR " + vr + " (it must be OB)", at);
        return fragments(value, end, tag, depth == 0);
      }
      // Undefined length: a sequence (SQ, or any element of an implicit-VR set, or UN holding
      // an implicit-VR sequence).
      if (explicit_vr && vr != "SQ" && vr != "UN") fail(tag + " has an undefined length its VR cannot have", at);
      return items(value, end, depth + 1, explicit_vr && vr == "SQ", true, tag);
    }
    if (length > end - value)
      fail(detail::concat(tag, " announces ", length, " bytes where ", end - value, " remain: the file is truncated or corrupt"), at);
    if (vr == "SQ") items(value, value + length, depth + 1, explicit_vr, false, tag);
    return value + length;
  }

  size_t items(size_t at, size_t end, int depth, bool explicit_vr, bool undefined, const std::string& tag) {
    if (depth > kMaxDicomDepth) fail(tag + ": sequences nested more than " + std::to_string(kMaxDicomDepth) + " deep", at);
    while (at < end) {
      if (end - at < 8) fail(tag + ": an item header is cut short", at);
      const uint16_t group = u16(at, big_endian_), number = u16(at + 2, big_endian_);
      const uint32_t length = u32(at + 4, big_endian_);
      if (group == 0xFFFE && number == 0xE0DD) {
        if (!undefined) fail(tag + ": a sequence delimiter inside a sequence of defined length", at);
        return delimiter_end(at, tag + ": a sequence");
      }
      if (group != 0xFFFE || number != 0xE000) fail(tag + ": a sequence holds something other than items", at);
      if (length == 0xFFFFFFFFu) {
        at = elements(at + 8, end, depth, explicit_vr, true);
      } else {
        if (length > end - (at + 8)) fail(detail::concat(tag, ": an item announces ", length, " bytes where ", end - (at + 8), " remain"), at);
        elements(at + 8, at + 8 + length, depth, explicit_vr, false);
        at += 8 + length;
      }
    }
    if (undefined) fail(tag + ": a sequence of undefined length has no delimiter", at);
    return at;
  }

  // ITK copies every top-level element into the image's metadata through GDCM's string filter,
  // which aborts on the binary VRs it has no printer for: OD, OL, OV, SV and UV (the file fuzz
  // run at 743,361 inputs: image type (0008,0008) written as OV). An implicit-VR or UN element
  // takes its dictionary VR there, so the public tags of those VRs are refused by number too
  // (GDCM's dictionary knows the OD and OL ones; the others are listed all the same).
  void check_printable_vr(uint16_t group, uint16_t number, const std::string& tag, const std::string& vr, bool explicit_vr,
                          size_t at) const {
    static const char* const kUnprintableVrs[] = {"OD", "OL", "OV", "SV", "UV"};
    static const uint32_t kTagsOfUnprintableVrs[] = {
        0x00660022u, 0x00660040u, 0x00660041u, 0x00660042u, 0x00660043u, 0x00660129u, 0x006A0011u,  // surface mesh, annotation
        0x0070150Du, 0x00701A07u, 0x00720073u, 0x00720075u, 0x00720081u, 0x00720082u, 0x00720083u,  // curves, hanging protocol
        0x7FE00001u, 0x7FE00002u, 0x7FE00009u};  // extended offset table, double float pixel data
    if (explicit_vr && vr != "UN") {
      if (std::any_of(std::begin(kUnprintableVrs), std::end(kUnprintableVrs), [&](const char* v) { return vr == v; }))
        fail(tag + " is of VR " + vr + ", which the DICOM reader cannot copy into the image's metadata", at);
      return;
    }
    const uint32_t key = static_cast<uint32_t>(group) << 16 | number;
    if (std::find(std::begin(kTagsOfUnprintableVrs), std::end(kTagsOfUnprintableVrs), key) != std::end(kTagsOfUnprintableVrs))
      fail(tag + " has a dictionary VR (OD, OL, OV, SV or UV) the DICOM reader cannot copy into the image's metadata", at);
  }

  // PS3.5 7.5: an item or sequence delimiter has a length of 0. GDCM reads one with another
  // length as a fragment of that many bytes (0x24000000 allocated and cleared for a 1.5 kB
  // file: a 28 s timeout in the file fuzz run at 297,847 inputs).
  size_t delimiter_end(size_t at, const std::string& what) const {
    if (u32(at + 4, big_endian_) != 0) fail(what + "'s delimiter has a length other than 0", at);
    return at + 8;
  }

  // Encapsulated (compressed) pixel data: items of defined length up to a sequence delimiter.
  size_t fragments(size_t at, size_t end, const std::string& tag, bool image_pixels) {
    int index = 0;  // item 0 is the basic offset table; item 1 starts the first frame
    while (at < end) {
      if (end - at < 8) fail(tag + ": a fragment header is cut short", at);
      const uint16_t group = u16(at, big_endian_), number = u16(at + 2, big_endian_);
      const uint32_t length = u32(at + 4, big_endian_);
      if (group == 0xFFFE && number == 0xE0DD) return delimiter_end(at, tag + ": the encapsulated pixel data");
      if (group != 0xFFFE || number != 0xE000 || length == 0xFFFFFFFFu) fail(tag + ": encapsulated pixel data holds no fragment", at);
      if (length > end - (at + 8))
        fail(detail::concat(tag, ": a pixel data fragment announces ", length, " bytes where ", end - (at + 8), " remain: the file is truncated"), at);
      if (image_pixels && index++ >= 1) frame_fragments_.emplace_back(at + 8, length);
      at += 8 + length;
    }
    fail(tag + ": encapsulated pixel data has no delimiter (the file is truncated)", at);
  }

  // The image pixel module as GDCM asserts on it (Debian builds it with assertions: an
  // out-of-range value aborts the process): a grey image, 8, 16 or 32 bits, sizes in range.
  void check_image_attributes(const std::string& sop_class) const {
    const auto has = [&](uint32_t tag) { return top_level_.count(tag) > 0; };
    const auto text = [&](uint32_t tag) {
      std::string v = value_of(tag);
      v.erase(0, v.find_first_not_of(' '));
      return v;
    };
    const auto us = [&](uint32_t tag, const char* name) -> int {
      if (!has(tag)) fail(std::string("no ") + name, 0);
      const auto [at, length] = top_level_.at(tag);
      if (length != 2) fail(std::string(name) + " is not one 16-bit value", at);
      return u16(at, big_endian_);
    };
    // GDCM reads the image attributes through typed attributes that assert the VR an explicit VR
    // file gives (fuzzing: a pixel representation written as UL, a pixel spacing and an instance
    // number of other VRs aborted the process): each must have its dictionary VR, or UN, which
    // GDCM accepts and itself writes when it converts an implicit-VR file (RLE, JPEG-LS).
    static const std::pair<uint32_t, const char*> kTypedVrs[] = {
        {0x00280002u, "US"}, {0x00280006u, "US"}, {0x00280010u, "US"}, {0x00280011u, "US"},  // image pixel module
        {0x00280100u, "US"}, {0x00280101u, "US"}, {0x00280102u, "US"}, {0x00280103u, "US"},
        {0x00280030u, "DS"}, {0x00180088u, "DS"}, {0x00180050u, "DS"}, {0x00181164u, "DS"},  // spacings
        {0x00182010u, "DS"}, {0x00200032u, "DS"}, {0x00200037u, "DS"},                       // position, orientation
        {0x00281050u, "DS"}, {0x00281051u, "DS"}, {0x00281052u, "DS"}, {0x00281053u, "DS"},  // window, rescale
        {0x00200012u, "IS"}, {0x00200013u, "IS"}, {0x00280008u, "IS"}, {0x00280034u, "IS"},  // numbers, frames, aspect
        {0x00080016u, "UI"}, {0x00080018u, "UI"}, {0x0020000Du, "UI"}, {0x0020000Eu, "UI"}, {0x00200052u, "UI"},
        {0x00080060u, "CS"}, {0x00280004u, "CS"}};
    for (const auto& [tag, vr] : kTypedVrs) {
      const auto found = top_level_vr_.find(tag);
      if (found != top_level_vr_.end() && found->second.first != vr && found->second.first != "UN")
        fail(detail::concat("element (", hex(static_cast<uint16_t>(tag >> 16)), ",", hex(static_cast<uint16_t>(tag & 0xFFFF)),
                            ") is of VR ", found->second.first, ", not ", vr, " (or UN)"),
             found->second.second);
    }
    if (!has(0x7FE00010u)) fail("no pixel data", 0);
    if (has(0x00080016u) && text(0x00080016u) != sop_class)
      fail("its SOP class UID differs from the file meta group's media storage SOP class", top_level_.at(0x00080016u).first);
    if (has(0x00080010u)) {
      // A retired ACR-NEMA recognition code: GDCM asserts that it names ACR-NEMA.
      const std::string code = text(0x00080010u);
      if (code.rfind("ACR-NEMA", 0) != 0 && code.rfind("ACRNEMA", 0) != 0)
        fail("a recognition code (0008,0010) that names no ACR-NEMA version", top_level_.at(0x00080010u).first);
    }
    if (us(0x00280002u, "samples per pixel") != 1) fail("not a grey image (samples per pixel is not 1)", top_level_.at(0x00280002u).first);
    const int rows = us(0x00280010u, "rows"), columns = us(0x00280011u, "columns");
    const int allocated = us(0x00280100u, "bits allocated"), stored = us(0x00280101u, "bits stored");
    if (encapsulated_ && (syntax_ == "1.2.840.10008.1.2.4.50" || syntax_ == "1.2.840.10008.1.2.4.51" ||
                          syntax_ == "1.2.840.10008.1.2.4.57" || syntax_ == "1.2.840.10008.1.2.4.70" ||
                          syntax_ == "1.2.840.10008.1.2.4.80" || syntax_ == "1.2.840.10008.1.2.4.81"))
      check_jpeg_header(rows, columns, allocated);
    if (encapsulated_ && (syntax_ == "1.2.840.10008.1.2.4.90" || syntax_ == "1.2.840.10008.1.2.4.91"))
      check_jpeg2000_header(rows, columns);
    if (encapsulated_ && syntax_ == "1.2.840.10008.1.2.5") check_rle_headers(allocated);
    const int high_bit = us(0x00280102u, "high bit"), representation = us(0x00280103u, "pixel representation");
    if (rows < 1 || columns < 1) fail("an image of no rows or no columns", top_level_.at(0x00280010u).first);
    if (allocated != 8 && allocated != 16 && allocated != 32) fail("bits allocated is not 8, 16 or 32", top_level_.at(0x00280100u).first);
    if (stored < 1 || stored > allocated || high_bit < stored - 1 || high_bit >= allocated)
      fail("bits stored and high bit do not fit the bits allocated", top_level_.at(0x00280101u).first);
    if (representation != 0 && representation != 1) fail("pixel representation is neither 0 nor 1", top_level_.at(0x00280103u).first);
    if (has(0x00280004u)) {
      const std::string photometric = text(0x00280004u);
      if (photometric != "MONOCHROME1" && photometric != "MONOCHROME2")
        fail("photometric interpretation '" + photometric + "' is not a grey one", top_level_.at(0x00280004u).first);
    }
    // Numbers GDCM sorts the series by and ITK builds the geometry from: a NaN or a word among
    // them breaks the sort's ordering (GDCM's sort then reads past its array) or the geometry.
    const auto numbers = [&](uint32_t tag, const char* name, size_t count, bool whole) {
      if (!has(tag)) return;
      const std::string v = text(tag);
      std::vector<std::string> parts(1);
      for (char c : v) {
        if (c == '\\') parts.emplace_back();
        else if (c != ' ') parts.back() += c;
      }
      bool ok = count == 0 || parts.size() == count;
      for (const auto& part : parts) {
        char* end = nullptr;
        if (whole) {
          const long long n = std::strtoll(part.c_str(), &end, 10);
          ok = ok && !part.empty() && *end == '\0' && n > -(1LL << 31) && n < (1LL << 31);
        } else {
          const double x = std::strtod(part.c_str(), &end);
          ok = ok && !part.empty() && *end == '\0' && std::isfinite(x) && std::abs(x) < 1e9;
        }
      }
      if (!ok) fail(std::string(name) + " '" + v + "' is not " + (count ? std::to_string(count) + " " : "") + (whole ? "whole " : "finite ") + "number(s)", top_level_.at(tag).first);
    };
    numbers(0x00200013u, "instance number", 1, true);
    numbers(0x00200032u, "image position (patient)", 3, false);
    numbers(0x00200037u, "image orientation (patient)", 6, false);
    numbers(0x00280030u, "pixel spacing", 2, false);
    numbers(0x00180050u, "slice thickness", 1, false);
    numbers(0x00180088u, "spacing between slices", 1, false);
    uint64_t frames = 1;
    if (has(0x00280008u)) {
      const std::string text_frames = text(0x00280008u);
      char* end = nullptr;
      const long n = std::strtol(text_frames.c_str(), &end, 10);
      if (text_frames.empty() || *end != '\0' || n < 1 || n > 4096) fail("number of frames is not 1 to 4096", top_level_.at(0x00280008u).first);
      frames = static_cast<uint64_t>(n);
    }
    // Readers allocate what rows x columns x frames announce; uncompressed pixel data must hold
    // it, and a compressed file may announce at most 2^28 pixels.
    if (encapsulated_ && syntax_ == "1.2.840.10008.1.2.5" && frame_fragments_.size() != frames)
      fail(detail::concat("its RLE pixel data holds ", frame_fragments_.size(), " fragments for ", frames, " frames (one each)"), 0);
    const uint64_t pixels = static_cast<uint64_t>(rows) * static_cast<uint64_t>(columns) * frames;
    if (pixels > (uint64_t{1} << 28)) fail(detail::concat("the image module announces ", pixels, " pixels (at most 2^28 are read per file)"), 0);
    const auto [pixel_at, pixel_bytes] = top_level_.at(0x7FE00010u);
    if (!encapsulated_ && pixel_bytes < pixels * static_cast<uint64_t>(allocated / 8))
      fail(detail::concat("pixel data holds ", pixel_bytes, " bytes where rows, columns and bits allocated announce ",
                          pixels * static_cast<uint64_t>(allocated / 8), ": the file is truncated"), pixel_at);
  }

  // The frame fragment the image's first frame starts in; {0, 0} when there is none.
  std::pair<size_t, size_t> first_fragment() const {
    return frame_fragments_.empty() ? std::pair<size_t, size_t>{0, 0} : frame_fragments_.front();
  }

  // PS3.5 Annex G: each frame of RLE pixel data is one fragment that starts with a 64-byte header,
  // the number of segments (one per byte of a sample: bits allocated / 8 for a grey image) and
  // 15 segment offsets, the first 64, each within the fragment and after the one before, unused
  // ones 0. GDCM's RLE decoder trusts the header and reads where it points (a header announcing
  // 131,072 segments: a read far past the fragment in the folder fuzz run at 218,243 inputs).
  // The number of frames is checked later, with the rest of the image module: here one header
  // per fragment.
  void check_rle_headers(int bits_allocated) const {
    if (frame_fragments_.empty()) fail("its RLE pixel data holds no frame", 0);
    const uint32_t segments = static_cast<uint32_t>(bits_allocated / 8);
    for (size_t f = 0; f < frame_fragments_.size(); ++f) {
      const size_t start = frame_fragments_[f].first, length = frame_fragments_[f].second;  // no structured binding: a lambda uses them
      const auto bad = [&](const std::string& why) { fail(detail::concat("its RLE frame ", f + 1, " ", why), start); };
      if (length < 64) bad("is shorter than the 64-byte RLE header");
      if (u32(start, false) != segments)
        bad(detail::concat("announces ", u32(start, false), " segments where ", bits_allocated, "-bit grey samples have ", segments));
      uint32_t previous = 0;
      for (uint32_t k = 0; k < 15; ++k) {
        const uint32_t offset = u32(start + 4 + 4 * k, false);
        if (k >= segments) {
          if (offset != 0) bad(detail::concat("has an offset for segment ", k + 1, ", which it does not have"));
        } else if ((k == 0 && offset != 64) || (k > 0 && offset <= previous) || offset >= length) {
          bad(detail::concat("has segment ", k + 1, " at offset ", offset, ", outside its ", length, " bytes or out of order"));
        }
        previous = offset;
      }
    }
  }

  // The JPEG stream of the first frame up to its scan header, as the IJG library reads it:
  // GDCM's JPEG codecs assert (abort) on any warning that library gives while reading the
  // header (fuzzing found it: fuzz/open/), and the warnings come from bytes between segments,
  // a stream that ends before its scan, or a JFIF version other than 1. The frame must also
  // be one grey component of the image module's rows and columns, in the process (baseline,
  // extended or lossless) its transfer syntax names.
  //
  // JPEG-LS (T.87) shares the layout, with its own frame (SOF55) and preset (LSE) markers: GDCM
  // asserted when its frame was smaller than the image module (a folder fuzz crash). Only the
  // markers that belong in the header are accepted (a stuffed FF00 there made the IJG library
  // warn, and GDCM abort: a file fuzz crash), and samples must fit the bits allocated.
  void check_jpeg_header(int rows, int columns, int bits_allocated) const {
    const size_t start = first_fragment().first, length = first_fragment().second;  // no structured binding: a lambda uses them
    const bool jpeg_ls = syntax_ == "1.2.840.10008.1.2.4.80" || syntax_ == "1.2.840.10008.1.2.4.81";
    const std::string kind = jpeg_ls ? "JPEG-LS" : "JPEG";
    const auto bad = [&](const std::string& why) { fail("its " + kind + " pixel data " + why, start); };
    const auto byte = [&](size_t at) { return static_cast<unsigned>(static_cast<unsigned char>(b_[at])); };
    const size_t end = start + length;
    if (length < 4 || byte(start) != 0xFF || byte(start + 1) != 0xD8) bad("does not start with a JPEG start-of-image marker");
    bool frame_header = false;
    size_t at = start + 2;
    while (true) {
      if (at + 4 > end) bad("ends before its scan header");
      if (byte(at) != 0xFF) bad("holds bytes between its header segments");
      const unsigned marker = byte(at + 1);
      if (marker == 0xFF) {  // a fill byte before a marker
        ++at;
        continue;
      }
      const bool start_of_frame =
          jpeg_ls ? marker == 0xF7 : marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      const bool tables = jpeg_ls ? marker == 0xF8 : marker == 0xC4 || marker == 0xCC || marker == 0xDB;  // LSE; DHT, DAC, DQT
      const bool other = marker == 0xDD || (marker >= 0xE0 && marker <= 0xEF) || marker == 0xFE || marker == 0xDA;  // DRI, APPn, COM, SOS
      if (!start_of_frame && !tables && !other)
        bad(detail::concat("has a marker (FF", hex(static_cast<uint16_t>(marker)).substr(2), ") that does not belong in its header"));
      const size_t segment = byte(at + 2) << 8 | byte(at + 3);
      if (segment < 2 || at + 2 + segment > end) bad("has a header segment longer than its frame");
      if (start_of_frame) {
        if (segment < 8) bad("has a frame header cut short");
        const unsigned precision = byte(at + 4), height = byte(at + 5) << 8 | byte(at + 6), width = byte(at + 7) << 8 | byte(at + 8);
        if (byte(at + 9) != 1) bad("is not one grey component");
        // Each JPEG transfer syntax names its process, and GDCM asserts on a frame of another
        // (a progressive frame of 16-bit samples aborted the folder fuzz run at 179,940 inputs).
        // (JPEG-LS has one frame marker, SOF55.)
        const bool baseline = syntax_ == "1.2.840.10008.1.2.4.50", extended = syntax_ == "1.2.840.10008.1.2.4.51";
        if (!jpeg_ls && baseline && (marker != 0xC0 || precision != 8))
          bad("is no baseline frame of 8-bit samples, which its transfer syntax announces");
        if (!jpeg_ls && extended && ((marker != 0xC0 && marker != 0xC1) || (precision != 8 && precision != 12)))
          bad("is no sequential frame of 8- or 12-bit samples, which its transfer syntax announces");
        if (!jpeg_ls && !baseline && !extended && marker != 0xC3) bad("is no lossless frame, which its transfer syntax announces");
        if (precision < 2 || precision > 16) bad("has a sample precision outside 2 to 16 bits");
        if (static_cast<int>(precision) > bits_allocated)
          bad(detail::concat("has samples of ", precision, " bits where the image module allocates ", bits_allocated));
        if (static_cast<int>(height) != rows || static_cast<int>(width) != columns)
          bad(detail::concat("is ", width, "x", height, " where the image module says ", columns, "x", rows));
        frame_header = true;
      }
      if (marker == 0xE0 && segment >= 8 && b_.compare(at + 4, 5, std::string("JFIF\0", 5)) == 0 && byte(at + 9) != 1)
        bad("has a JFIF version other than 1");
      if (marker == 0xDA) {
        if (!frame_header) bad("has a scan before its frame header");
        return;
      }
      at += 2 + segment;
    }
  }

  // The JPEG 2000 code stream of the first frame up to its first tile's data (SOD), as GDCM
  // parses it before OpenJPEG sees it: its marker parser reads where the segment lengths point,
  // past the fragment on a bogus one (a crash found by fuzzing). The stream must start with SOC
  // and SIZ (a JP2 file wrapper is not DICOM's encoding), every marker segment must lie inside
  // the fragment, and SIZ must describe one grey component of the image module's size.
  void check_jpeg2000_header(int rows, int columns) const {
    const size_t start = first_fragment().first, length = first_fragment().second;
    const auto bad = [&](const std::string& why) { fail("its JPEG 2000 pixel data " + why, start); };
    const auto byte = [&](size_t at) { return static_cast<uint32_t>(static_cast<unsigned char>(b_[at])); };
    const auto be16 = [&](size_t at) { return byte(at) << 8 | byte(at + 1); };
    const auto be32 = [&](size_t at) { return be16(at) << 16 | be16(at + 2); };
    const size_t end = start + length;
    if (length < 4 || be16(start) != 0xFF4F || be16(start + 2) != 0xFF51)
      bad("does not start with a JPEG 2000 code stream (SOC, then SIZ)");
    size_t at = start + 2;
    while (true) {
      if (at + 2 > end) bad("ends before its first tile's data");
      if (byte(at) != 0xFF) bad("holds bytes between its marker segments");
      const uint32_t marker = be16(at);
      if (marker == 0xFF93) return;  // SOD: the tile's data follows
      if ((marker >= 0xFF30 && marker <= 0xFF3F) || marker == 0xFF92) {  // markers without a segment
        at += 2;
        continue;
      }
      if (at + 4 > end) bad("has a marker segment cut short");
      const size_t segment = be16(at + 2);
      if (segment < 2 || at + 2 + segment > end) bad("has a marker segment longer than its frame");
      if (marker == 0xFF51) {  // SIZ
        if (segment < 41) bad("has a SIZ segment cut short");
        const uint32_t width = be32(at + 6), height = be32(at + 10), x_offset = be32(at + 14), y_offset = be32(at + 18);
        if (be16(at + 38) != 1) bad("is not one grey component");
        if (x_offset >= width || y_offset >= height || width - x_offset != static_cast<uint32_t>(columns) ||
            height - y_offset != static_cast<uint32_t>(rows))
          bad(detail::concat("is ", width - x_offset, "x", height - y_offset, " where the image module says ", columns, "x", rows));
        if ((byte(at + 40) & 0x7F) + 1 > 16) bad("has samples of more than 16 bits");
      }
      at += 2 + segment;
    }
  }

  static std::string hex(uint16_t v) {
    char s[5];
    std::snprintf(s, sizeof s, "%04X", v);
    return s;
  }

  const fs::path& path_;
  const std::string& b_;
  bool big_endian_ = false;
  bool encapsulated_ = false;  // pixel data in fragments (a compressed transfer syntax)
  std::string syntax_;         // the transfer syntax UID
  std::vector<std::pair<size_t, size_t>> frame_fragments_;  // offset, length of each fragment after the offset table
  std::map<uint32_t, std::pair<size_t, size_t>> top_level_;  // tag -> value offset, length (image module)
  std::map<uint32_t, std::pair<std::string, size_t>> top_level_vr_;  // explicit VR: tag -> VR, header offset
};

}  // namespace

DicomFileFacts check_dicom_file_structure(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  SPINESCAN_CHECK(in, path.string(), ": cannot open for reading");
  std::ostringstream s;
  s << in.rdbuf();
  return DicomWalk(path, s.str()).run();
}

void check_dicom_series_order(const fs::path& folder, const std::vector<DicomFileFacts>& files) {
  std::map<std::string, std::vector<const DicomFileFacts*>> series;
  for (const auto& f : files)
    if (f.image) series[f.series_key].push_back(&f);
  int number = 0;
  for (const auto& entry : series) {
    const std::vector<const DicomFileFacts*>& members = entry.second;  // a lambda below cannot capture a structured binding (C++17)
    ++number;
    if (members.size() < 2) continue;  // one image: nothing to order
    const auto refuse = [&](const std::string& why) {
      throw DataError(detail::concat(folder.string(), ": DICOM series ", number, " of this folder (", members.size(),
                                     " images) is not one 3D volume: ", why));
    };
    for (const auto* f : members)
      if (!f->has_geometry) refuse("an image has no image position and orientation (patient)");
    const auto& o = members.front()->orientation;
    for (const auto* f : members)
      for (size_t i = 0; i < 6; ++i)
        if (std::abs(f->orientation[i] - o[i]) > 1e-4) refuse("its images have different orientations");
    // GDCM's order: the distance of each image position along the normal of the first image.
    const double normal[3] = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
    std::vector<double> distances;
    for (const auto* f : members) distances.push_back(normal[0] * f->position[0] + normal[1] * f->position[1] + normal[2] * f->position[2]);
    std::sort(distances.begin(), distances.end());
    for (size_t i = 1; i < distances.size(); ++i)
      if (distances[i] - distances[i - 1] < 1e-3)
        refuse("two images lie at the same slice position (repeated slices, several echoes or time points?)");
  }
}

}  // namespace spinescan
