#include "spinescan/io/study_reader.h"

#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImage.h>
#include <itkImageFileReader.h>
#include <itkImageIOBase.h>
#include <itkImageSeriesReader.h>
#include <itkMetaDataObject.h>
#include <itkMetaImageIO.h>
#include <itkNiftiImageIO.h>
#include <itkNrrdImageIO.h>
#include <gdcmTrace.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/logging.h"
#include "spinescan/io/file_checks.h"
#include "spinescan/io/orientation.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

// 2^30 voxels: 4 GiB as float, ten times a fine 3D lumbar acquisition (512 x 512 x 400).
constexpr uint64_t kMaxStudyVoxels = uint64_t{1} << 30;

// ITK and GDCM print warnings on stderr (e.g. "No Series were found"); every such case is
// turned into an exception with a clear message here, so the library noise is switched off.
void silence_library_warnings() {
  static const bool done = [] {
    itk::Object::GlobalWarningDisplayOff();
    gdcm::Trace::WarningOff();
    return true;
  }();
  (void)done;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                                                 [](char a, char b) { return std::tolower(a) == b; });
}

// ITK's own messages carry file/line noise; keep the first meaningful line.
// ITK's description on one line, without the object address ("itk::ERROR: NrrdImageIO(0x...): ")
// that says nothing to a user; the reader's own reason (NRRD puts it on later lines) is kept.
std::string itk_reason(const itk::ExceptionObject& e) {
  std::string d = e.GetDescription();
  const auto address = d.find("(0x");
  const auto after = d.find("): ", address == std::string::npos ? 0 : address);
  if (address != std::string::npos && after != std::string::npos && after < d.find('\n')) d = d.substr(after + 3);
  std::string line;
  for (char c : d) {
    if (c == '\n' || c == '\r') {
      if (!line.empty() && line.back() != ' ') line += ' ';
      continue;
    }
    line += c;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line.empty() ? "unreadable" : line;
}

itk::ImageIOBase::Pointer file_io_for(const std::string& format) {
  if (format == "NIfTI") return itk::NiftiImageIO::New().GetPointer();
  if (format == "MetaImage") return itk::MetaImageIO::New().GetPointer();
  return itk::NrrdImageIO::New().GetPointer();
}

std::string tag(const itk::MetaDataDictionary& dict, const std::string& key) {
  std::string value;
  itk::ExposeMetaData<std::string>(dict, key, value);
  // DICOM pads strings to even length with spaces or NULs.
  while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
  return value;
}

std::string plane_from_orientation_tag(const std::string& iop) {
  std::array<double, 6> v{};
  std::istringstream in(iop);
  for (double& x : v) {
    in >> x;
    if (in.peek() == '\\') in.get();
  }
  if (!in && !in.eof()) return "unknown";
  const std::array<double, 3> normal{v[1] * v[5] - v[2] * v[4], v[2] * v[3] - v[0] * v[5], v[0] * v[4] - v[1] * v[3]};
  const int axis = static_cast<int>(std::max_element(normal.begin(), normal.end(),
                                                     [](double a, double b) { return std::abs(a) < std::abs(b); }) -
                                    normal.begin());
  return axis == 0 ? "sagittal" : axis == 1 ? "coronal" : "axial";
}

template <class Pixel>
Volume<Pixel> from_itk(const typename itk::Image<Pixel, 3>::Pointer& image) {
  Volume<Pixel> v;
  const auto size = image->GetLargestPossibleRegion().GetSize();
  for (int a = 0; a < 3; ++a) {
    v.size[a] = static_cast<int64_t>(size[a]);
    v.spacing_mm[a] = image->GetSpacing()[a];
    v.origin_lps[a] = image->GetOrigin()[a];
    for (int p = 0; p < 3; ++p) v.direction[p][a] = image->GetDirection()[p][a];
  }
  const Pixel* buffer = image->GetBufferPointer();
  v.voxels.assign(buffer, buffer + v.num_voxels());
  return v;
}

void fill_info_from_io(StudyInfo* info, const fs::path& path, const std::string& format, itk::ImageIOBase* io) {
  if (!info) return;
  info->path = path.string();
  info->format = format;
  info->pixel_type = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
}

void fill_geometry(StudyInfo* info, const Volume<float>& v) {
  if (!info) return;
  info->size_voxels = v.size;
  info->spacing_mm = v.spacing_mm;
  info->origin_lps = v.origin_lps;
  info->direction = v.direction;
  info->orientation_code = orientation_code(v.direction);
  info->obliquity_deg = obliquity_degrees(v.direction);
  info->acquisition_plane = acquisition_plane(v.direction, v.spacing_mm);
}

// Opens the header of a single-file image and checks it is a 3D scalar volume.
itk::ImageIOBase::Pointer open_file_header(const fs::path& path, const std::string& format) {
  SPINESCAN_CHECK(fs::exists(path), path.string(), ": no such file");
  SPINESCAN_CHECK(fs::is_regular_file(path), path.string(), ": not a regular file");
  silence_library_warnings();
  if (format == "MetaImage") check_metaimage_header(path);
  if (format == "NIfTI") check_nifti_header(path);
  if (format == "NRRD") check_nrrd_header(path);
  auto io = file_io_for(format);
  SPINESCAN_CHECK(io->CanReadFile(path.c_str()), path.string(), ": not a readable ", format,
                  " file (corrupt or truncated header?)");
  io->SetFileName(path.string());
  try {
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(path.string() + ": cannot read " + format + " header: " + itk_reason(e));
  }
  const unsigned dims = io->GetNumberOfDimensions();
  SPINESCAN_CHECK(dims >= 2 && dims <= 3, path.string(), ": ", dims, "-dimensional image; a 3D volume is needed");
  SPINESCAN_CHECK(dims == 3, path.string(), ": 2D image (", io->GetDimensions(0), "x", io->GetDimensions(1),
                  "); a 3D volume is needed");
  SPINESCAN_CHECK(io->GetNumberOfComponents() == 1, path.string(), ": ", io->GetNumberOfComponents(),
                  " components per voxel; a scalar (grey) volume is needed");
  // Refused before anything is allocated: a small compressed file can announce a volume
  // larger than the machine's memory.
  uint64_t num_voxels = 1;
  for (unsigned a = 0; a < dims; ++a) {
    const uint64_t n = io->GetDimensions(a);
    SPINESCAN_CHECK(n >= 1 && num_voxels <= kMaxStudyVoxels / n, path.string(), ": the header announces ", io->GetDimensions(0),
                    "x", io->GetDimensions(1), "x", dims == 3 ? io->GetDimensions(2) : 1, " voxels; spinescan reads at most ",
                    kMaxStudyVoxels, " (a lumbar MRI holds under 10^8)");
    num_voxels *= n;
  }
  // GetComponentSize throws (outside any reader call) for a type the header does not name.
  SPINESCAN_CHECK(io->GetComponentType() != itk::IOComponentEnum::UNKNOWNCOMPONENTTYPE, path.string(),
                  ": the header names no voxel type ITK knows");
  check_file_complete(path, format, num_voxels * io->GetComponentSize());
  return io;
}

template <class Pixel>
Volume<Pixel> read_file(const fs::path& path, const std::string& format, StudyInfo* info) {
  auto io = open_file_header(path, format);
  using Image = itk::Image<Pixel, 3>;
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetFileName(path.string());
  reader->SetImageIO(io);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(path.string() + ": cannot read " + format + " voxels (truncated or corrupt?): " + itk_reason(e));
  }
  fill_info_from_io(info, path, format, io);
  return from_itk<Pixel>(reader->GetOutput());
}

// The folder's series, each with its files in slice order: one GDCM scan of the folder serves
// choosing the series and reading it. Library output is captured by the caller.
std::vector<DicomSeriesSummary> scan_dicom_series(const fs::path& folder) {
  SPINESCAN_CHECK(fs::is_directory(folder), folder.string(), ": not a folder");
  silence_library_warnings();
  // GDCM parses every file of the folder to group them into series: each must be a well-formed
  // DICOM file first (io/file_checks.h says why).
  std::vector<DicomFileFacts> facts;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_regular_file()) facts.push_back(check_dicom_file_structure(entry.path()));
  check_dicom_series_order(folder, facts);
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetUseSeriesDetails(false);
  std::vector<std::string> uids;
  try {
    names->SetDirectory(folder.string());
    uids = names->GetSeriesUIDs();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(folder.string() + ": cannot scan for DICOM files: " + itk_reason(e));
  }
  SPINESCAN_CHECK(!uids.empty(), folder.string(), ": no DICOM series found in this folder");
  std::vector<DicomSeriesSummary> out;
  for (const auto& uid : uids) {
    DicomSeriesSummary s;
    s.uid = uid;
    const auto files = names->GetFileNames(uid);
    s.files.assign(files.begin(), files.end());
    if (!files.empty()) {
      auto io = itk::GDCMImageIO::New();
      io->SetFileName(files.front());
      try {
        io->ReadImageInformation();
        const auto& dict = io->GetMetaDataDictionary();
        s.description = tag(dict, "0008|103e");
        s.modality = tag(dict, "0008|0060");
        s.plane = plane_from_orientation_tag(tag(dict, "0020|0037"));
        const std::string te = tag(dict, "0018|0081");
        s.echo_time_ms = te.empty() ? 0 : std::atof(te.c_str());
      } catch (const itk::ExceptionObject& e) {
        throw DataError(files.front() + ": cannot read DICOM header: " + itk_reason(e));
      }
    }
    out.push_back(s);
  }
  return out;
}

std::string choose_series(const fs::path& folder, const std::vector<DicomSeriesSummary>& series, const ReadOptions& options) {
  const std::string& wanted = options.series_uid;
  if (!wanted.empty()) {
    // A number picks the series by its place in the list below (UIDs always hold dots).
    if (wanted.find_first_not_of("0123456789") == std::string::npos) {
      const size_t n = std::stoul(wanted.substr(0, 9));
      SPINESCAN_CHECK(n >= 1 && n <= series.size(), folder.string(), ": --series ", wanted, ", but the folder holds ",
                      series.size(), " DICOM series");
      return series[n - 1].uid;
    }
    for (const auto& s : series)
      if (s.uid == wanted) return s.uid;
    throw DataError(folder.string() + ": no DICOM series with UID " + wanted);
  }
  if (series.size() == 1) return series.front().uid;
  // Several series: the sagittal T2 one (description says T2, or long echo time).
  std::vector<const DicomSeriesSummary*> candidates;
  for (const auto& s : series) {
    if (s.plane == "sagittal" && looks_t2_weighted(s.description, s.echo_time_ms)) candidates.push_back(&s);
  }
  if (candidates.size() == 1) return candidates.front()->uid;
  std::ostringstream msg;
  msg << folder.string() << ": " << series.size() << " DICOM series and "
      << (candidates.empty() ? "none" : "more than one") << " looks like a sagittal T2; choose one with --series NUMBER:";
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    msg << " [" << i + 1 << ": " << s.plane << ", " << s.files.size() << " files";
    if (s.echo_time_ms > 0) msg << ", TE " << s.echo_time_ms << " ms";
    if (options.keep_identifiers) msg << ", " << s.uid << " '" << s.description << "'";
    msg << "]";
  }
  throw DataError(msg.str());
}

Volume<float> read_dicom(const fs::path& folder, StudyInfo* info, const ReadOptions& options) {
  const auto series = scan_dicom_series(folder);
  const std::string uid = choose_series(folder, series, options);
  const DicomSeriesSummary& chosen =
      *std::find_if(series.begin(), series.end(), [&](const DicomSeriesSummary& s) { return s.uid == uid; });
  const std::vector<std::string>& files = chosen.files;
  SPINESCAN_CHECK(files.size() >= 2, folder.string(), ": DICOM series holds ", files.size(),
                  " image(s); a 3D volume needs at least 2 slices");
  {
    // The series reader allocates files x rows x columns before it reads a pixel.
    auto first = itk::GDCMImageIO::New();
    first->SetFileName(files.front());
    try {
      first->ReadImageInformation();
    } catch (const itk::ExceptionObject& e) {
      throw DataError(folder.string() + ": cannot read DICOM header: " + itk_reason(e));
    }
    const uint64_t per_file = static_cast<uint64_t>(first->GetDimensions(0)) * first->GetDimensions(1);
    SPINESCAN_CHECK(per_file >= 1 && per_file * files.size() <= kMaxStudyVoxels, folder.string(), ": the series announces ",
                    files.size(), " images of ", first->GetDimensions(0), "x", first->GetDimensions(1),
                    " pixels; spinescan reads at most ", kMaxStudyVoxels, " voxels");
  }
  using Image = itk::Image<float, 3>;
  auto io = itk::GDCMImageIO::New();
  auto reader = itk::ImageSeriesReader<Image>::New();
  reader->SetImageIO(io);
  reader->SetFileNames(files);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw DataError(folder.string() + ": cannot read DICOM series (corrupt or truncated file?): " + itk_reason(e));
  }
  if (info) {
    info->path = folder.string();
    info->format = "DICOM";
    info->pixel_type = itk::ImageIOBase::GetComponentTypeAsString(io->GetComponentType());
    info->series_uid = uid;
    info->num_series_in_folder = static_cast<int>(series.size());
    info->dicom_files = files;
    info->series_description = chosen.description;
  }
  return from_itk<float>(reader->GetOutput());
}

}  // namespace

bool looks_t2_weighted(const std::string& series_description, double echo_time_ms) {
  std::string d = series_description;
  std::transform(d.begin(), d.end(), d.begin(), ::toupper);
  return d.find("T2") != std::string::npos || echo_time_ms >= 60;
}

std::string detect_format(const fs::path& path) {
  SPINESCAN_CHECK(fs::exists(path), path.string(), ": no such file or folder");
  if (fs::is_directory(path)) return "DICOM";
  const std::string name = path.filename().string();
  if (ends_with(name, ".nii") || ends_with(name, ".nii.gz")) return "NIfTI";
  if (ends_with(name, ".mha") || ends_with(name, ".mhd")) return "MetaImage";
  if (ends_with(name, ".nrrd") || ends_with(name, ".nhdr")) return "NRRD";
  throw DataError(path.string() +
                  ": unsupported file type (expected a DICOM folder, .nii, .nii.gz, .mha, .mhd, .nrrd or .nhdr)");
}

std::vector<DicomSeriesSummary> list_dicom_series(const fs::path& folder) {
  const LibraryOutputToLog library_output;  // vnl, MetaIO, GDCM's OpenJPEG callback
  return scan_dicom_series(folder);
}

Volume<float> read_volume(const fs::path& path, StudyInfo* info, const ReadOptions& options) {
  const LibraryOutputToLog library_output;  // vnl, MetaIO, GDCM's OpenJPEG callback
  const std::string format = detect_format(path);
  Volume<float> v = format == "DICOM" ? read_dicom(path, info, options) : read_file<float>(path, format, info);
  fill_geometry(info, v);
  return v;
}

Volume<uint16_t> read_label_volume(const fs::path& path, StudyInfo* info) {
  const LibraryOutputToLog library_output;  // vnl, MetaIO, GDCM's OpenJPEG callback
  const std::string format = detect_format(path);
  SPINESCAN_CHECK(format != "DICOM", path.string(), ": label volumes must be a single file (NIfTI, MHA or NRRD)");
  auto io = open_file_header(path, format);
  SPINESCAN_CHECK(io->GetComponentType() != itk::IOComponentEnum::FLOAT &&
                      io->GetComponentType() != itk::IOComponentEnum::DOUBLE,
                  path.string(), ": label volume holds floating-point values; integer labels are needed");
  return read_file<uint16_t>(path, format, info);
}

void check_volume_content(const Volume<float>& native, const fs::path& path) {
  for (int a = 0; a < 3; ++a)
    SPINESCAN_CHECK(native.size[a] >= 2, path.string(), ": only ", native.size[a], " voxel(s) along axis ", a,
                    " (size ", native.size[0], "x", native.size[1], "x", native.size[2],
                    "): a 3D volume is needed, not a single slice");
  float lo = native.voxels.front(), hi = lo;
  for (float v : native.voxels) {
    SPINESCAN_CHECK(std::isfinite(v), path.string(), ": volume holds non-finite values (NaN or Inf)");
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  SPINESCAN_CHECK(hi > lo, path.string(), ": empty or constant volume (every voxel is ", lo, ")");
  for (int a = 0; a < 3; ++a)
    SPINESCAN_CHECK(native.spacing_mm[a] > 0 && std::isfinite(native.spacing_mm[a]), path.string(),
                    ": invalid spacing ", native.spacing_mm[a], " mm along axis ", a);
  // The voxel axes must be three perpendicular unit directions: a skewed or singular matrix
  // has no sagittal plane to read, and the canonical reorientation would guess one.
  const Matrix3& d = native.direction;
  for (int i = 0; i < 3; ++i)
    for (int j = i; j < 3; ++j) {
      double dot = 0;
      for (int p = 0; p < 3; ++p) dot += d[p][i] * d[p][j];
      const double expected = i == j ? 1.0 : 0.0;
      SPINESCAN_CHECK(std::isfinite(dot) && std::abs(dot - expected) < 1e-3, path.string(),
                      ": direction matrix is not orthonormal (voxel axes ", i, " and ", j, ": dot product ", dot,
                      "); the image axes are skewed or degenerate");
    }
}

LoadedStudy load_study(const fs::path& path, const ReadOptions& options) {
  LoadedStudy study;
  Volume<float> native = read_volume(path, &study.info, options);
  check_volume_content(native, path);
  study.canonical = to_canonical(native);
  return study;
}

}  // namespace spinescan
