#include "spinescan/io/volume_writer.h"

#include <itkGDCMImageIO.h>
#include <itkImage.h>
#include <itkImageFileWriter.h>
#include <itkImageSeriesWriter.h>
#include <itkMetaDataObject.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"
#include "spinescan/io/dicom_uid.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

template <class T>
typename itk::Image<T, 3>::Pointer to_itk(const Volume<T>& v) {
  using Image = itk::Image<T, 3>;
  auto image = Image::New();
  typename Image::SizeType size;
  typename Image::SpacingType spacing;
  typename Image::PointType origin;
  typename Image::DirectionType direction;
  for (int a = 0; a < 3; ++a) {
    size[a] = static_cast<itk::SizeValueType>(v.size[a]);
    spacing[a] = v.spacing_mm[a];
    origin[a] = v.origin_lps[a];
    for (int p = 0; p < 3; ++p) direction[p][a] = v.direction[p][a];
  }
  image->SetRegions(typename Image::RegionType(size));
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  std::copy(v.voxels.begin(), v.voxels.end(), image->GetBufferPointer());
  return image;
}

std::string decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

}  // namespace

template <class T>
void write_volume(const Volume<T>& volume, const fs::path& path) {
  SPINESCAN_CHECK_AS(static_cast<int64_t>(volume.voxels.size()) == volume.num_voxels(), Error,
                     "write_volume: voxel count does not match size");
  auto image = to_itk(volume);
  write_atomically(path, [&](const fs::path& tmp) {
    auto writer = itk::ImageFileWriter<itk::Image<T, 3>>::New();
    writer->SetFileName(tmp.string());
    writer->SetInput(image);
    writer->SetUseCompression(true);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw Error(path.string() + ": cannot write: " + e.GetDescription());
    }
  });
}

template void write_volume(const Volume<float>&, const fs::path&);
template void write_volume(const Volume<int16_t>&, const fs::path&);
template void write_volume(const Volume<uint8_t>&, const fs::path&);
template void write_volume(const Volume<uint16_t>&, const fs::path&);

void write_dicom_series(const Volume<int16_t>& volume, const fs::path& folder, const DicomSeriesOptions& options) {
  using Image3 = itk::Image<int16_t, 3>;
  using Image2 = itk::Image<int16_t, 2>;
  auto image = to_itk(volume);
  const std::string series_uid = options.series_uid.empty() ? make_dicom_uid() : options.series_uid;
  const std::string study_uid = options.study_uid.empty() ? make_dicom_uid() : options.study_uid;
  SPINESCAN_CHECK_AS(!options.reproducible || (!options.series_uid.empty() && !options.study_uid.empty()), ConfigError,
                     "a reproducible DICOM series needs its series and study UIDs");
  const std::string frame_uid = options.reproducible ? options.series_uid + ".0" : make_dicom_uid();

  // Orientation of every slice: the first two index axes; positions step along the third.
  std::ostringstream iop;
  for (int a = 0; a < 2; ++a)
    for (int p = 0; p < 3; ++p) iop << (a || p ? "\\" : "") << decimal(volume.direction[p][a]);

  itk::ImageSeriesWriter<Image3, Image2>::DictionaryArrayType dictionaries;
  std::vector<itk::MetaDataDictionary> storage(volume.size[2]);
  std::vector<std::string> file_names;
  for (int64_t k = 0; k < volume.size[2]; ++k) {
    auto& d = storage[k];
    auto put = [&d](const char* key, const std::string& value) { itk::EncapsulateMetaData<std::string>(d, key, value); };
    put("0008|0060", "MR");
    put("0008|0008", "DERIVED\\SECONDARY");
    put("0008|103e", options.series_description);
    put("0010|0010", options.patient_name);
    put("0010|0020", options.patient_id);
    if (!options.patient_birth_date.empty()) put("0010|0030", options.patient_birth_date);
    if (!options.accession_number.empty()) put("0008|0050", options.accession_number);
    put("0028|0004", "MONOCHROME2");  // type 1 in the MR image module; GDCM warns and guesses without it
    put("0018|0081", decimal(options.echo_time_ms));
    put("0018|0050", decimal(volume.spacing_mm[2]));
    put("0018|0088", decimal(volume.spacing_mm[2]));
    put("0020|000d", study_uid);
    put("0020|000e", series_uid);
    put("0020|0052", frame_uid);
    put("0020|0013", std::to_string(k + 1));
    put("0020|0037", iop.str());
    std::ostringstream ipp;
    for (int p = 0; p < 3; ++p)
      ipp << (p ? "\\" : "") << decimal(volume.origin_lps[p] + volume.direction[p][2] * volume.spacing_mm[2] * k);
    put("0020|0032", ipp.str());
    put("0008|0018", options.reproducible ? options.series_uid + "." + std::to_string(k + 1) : make_dicom_uid());
    if (options.reproducible) {  // ITK writes the time of writing where these are missing
      put("0008|0020", "20260101");
      put("0008|0030", "000000");
    }
    dictionaries.push_back(&d);
    char name[32];
    std::snprintf(name, sizeof name, "slice_%04lld.dcm", static_cast<long long>(k));
    file_names.push_back(name);
  }

  StagedDirectory staged(folder, /*overwrite=*/true);
  std::vector<std::string> paths;
  for (const auto& n : file_names) paths.push_back((staged.path() / n).string());
  auto io = itk::GDCMImageIO::New();
  io->KeepOriginalUIDOn();  // use the UIDs above, so all slices share one series
  if (!options.compression.empty()) {
    // ITK 5.2 names JPEG-LS and RLE too, but its writer refuses them ("Unknown compression type").
    static const std::map<std::string, itk::GDCMImageIO::CompressionEnum> kinds = {
        {"jpeg2000", itk::GDCMImageIO::JPEG2000}, {"jpeg", itk::GDCMImageIO::JPEG}};
    const auto kind = kinds.find(options.compression);
    SPINESCAN_CHECK_AS(kind != kinds.end(), ConfigError, "unknown DICOM compression '", options.compression,
                       "' (jpeg2000 or jpeg)");
    io->SetUseCompression(true);
    io->SetCompressionType(kind->second);
  }
  auto writer = itk::ImageSeriesWriter<Image3, Image2>::New();
  writer->SetInput(image);
  writer->SetImageIO(io);
  writer->SetFileNames(paths);
  writer->SetMetaDataDictionaryArray(&dictionaries);
  writer->SetUseCompression(!options.compression.empty());  // each slice's writer sets the IO's flag from its own
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    throw Error(folder.string() + ": cannot write DICOM series: " + e.GetDescription());
  }
  staged.commit();
}

}  // namespace spinescan
