#pragma once
// A small client of one Orthanc server: its REST API for changes, series and instances, and
// DICOMweb STOW-RS (the orthanc-dicomweb plugin) to store results. libcurl underneath.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/core/errors.h"

namespace spinescan::pacs {

// The server could not be reached or answered with an error: the work is retried later,
// it says nothing about the study.
struct PacsUnavailable : Error {
  using Error::Error;
};

struct OrthancOptions {
  std::string url = "http://127.0.0.1:8042";  // Orthanc's HTTP root
  std::string dicomweb_root = "/dicom-web";   // the DICOMweb plugin's root under `url`
  std::string credentials;                    // "user:password" for HTTP basic auth, or empty
  long timeout_s = 120;                       // one request, transfer included
};

class OrthancClient {
 public:
  explicit OrthancClient(OrthancOptions options);
  ~OrthancClient();
  OrthancClient(const OrthancClient&) = delete;
  OrthancClient& operator=(const OrthancClient&) = delete;

  // GET `path` (under the URL) as JSON. Throws PacsUnavailable.
  nlohmann::json get_json(const std::string& path);
  // GET `path` into `file` (written whole or not at all). Throws PacsUnavailable.
  void download(const std::string& path, const std::filesystem::path& file);
  // DICOMweb STOW-RS of DICOM files in one multipart request. Throws PacsUnavailable when
  // the server refuses the request or any instance in it.
  void store(const std::vector<std::filesystem::path>& files);
  // Whether an instance with this SOPInstanceUID is stored (REST /tools/lookup).
  bool has_instance(const std::string& sop_instance_uid);

 private:
  struct Response {
    long status = 0;
    std::string body;
  };
  Response request(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "");
  OrthancOptions options_;
  void* curl_ = nullptr;  // CURL*, kept for connection reuse
};

}  // namespace spinescan::pacs
