#include "spinescan/pacs/orthanc.h"

#include <curl/curl.h>

#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "spinescan/core/atomic_file.h"

namespace fs = std::filesystem;

namespace spinescan::pacs {
namespace {

size_t append_to_string(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string read_binary(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  SPINESCAN_CHECK_AS(in, Error, p.string(), ": cannot read");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string boundary() {
  std::random_device device;
  std::ostringstream s;
  s << "spinescan-" << std::hex << device() << device();
  return s.str();
}

}  // namespace

OrthancClient::OrthancClient(OrthancOptions options) : options_(std::move(options)) {
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  SPINESCAN_CHECK_AS(initialised, Error, "libcurl could not be initialised");
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  curl_ = curl_easy_init();
  SPINESCAN_CHECK_AS(curl_ != nullptr, Error, "libcurl could not be initialised");
}

OrthancClient::~OrthancClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

OrthancClient::Response OrthancClient::request(const std::string& method, const std::string& path, const std::string& body,
                                               const std::string& content_type) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  Response r;
  const std::string url = options_.url + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, options_.timeout_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (!options_.credentials.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, options_.credentials.c_str());
  }
  curl_slist* headers = nullptr;
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    if (!content_type.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
    headers = curl_slist_append(headers, "Accept: application/dicom+json, application/json");
    // No "Expect: 100-continue": libcurl would wait up to a second for Orthanc's go-ahead
    // before sending every large body (measured: 1 s of each study's store).
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  const CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(headers);
  // The path names Orthanc's resources by its own hashed IDs, never by patient data.
  if (code != CURLE_OK) throw PacsUnavailable("Orthanc at " + options_.url + ": " + method + " " + path + ": " + curl_easy_strerror(code));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.status < 200 || r.status >= 300)
    throw PacsUnavailable("Orthanc at " + options_.url + ": " + method + " " + path + ": HTTP " + std::to_string(r.status));
  return r;
}

nlohmann::json OrthancClient::get_json(const std::string& path) {
  const Response r = request("GET", path);
  try {
    return nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception&) {
    throw PacsUnavailable("Orthanc at " + options_.url + ": GET " + path + ": the answer is not JSON");
  }
}

void OrthancClient::download(const std::string& path, const fs::path& file) {
  const Response r = request("GET", path);
  write_text_atomically(file, r.body);
}

void OrthancClient::store(const std::vector<fs::path>& files) {
  if (files.empty()) return;
  const std::string b = boundary();
  std::string body;
  for (const auto& f : files) {
    body += "--" + b + "\r\nContent-Type: application/dicom\r\n\r\n";
    body += read_binary(f);
    body += "\r\n";
  }
  body += "--" + b + "--\r\n";
  const Response r =
      request("POST", options_.dicomweb_root + "/studies", body, "multipart/related; type=\"application/dicom\"; boundary=" + b);
  // PS3.18 STOW-RS answer: the failed instances under (0008,1198) Failed SOP Sequence.
  nlohmann::json answer;
  try {
    answer = nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception&) {
    throw PacsUnavailable("Orthanc at " + options_.url + ": STOW-RS answer is not JSON");
  }
  if (answer.contains("00081198") && answer["00081198"].contains("Value") && !answer["00081198"]["Value"].empty())
    throw PacsUnavailable("Orthanc at " + options_.url + ": STOW-RS refused " +
                          std::to_string(answer["00081198"]["Value"].size()) + " of " + std::to_string(files.size()) +
                          " instances");
}

bool OrthancClient::has_instance(const std::string& sop_instance_uid) {
  const Response r = request("POST", "/tools/lookup", sop_instance_uid, "text/plain");
  const auto found = nlohmann::json::parse(r.body, nullptr, false);
  if (!found.is_array()) return false;
  for (const auto& item : found)
    if (item.value("Type", "") == "Instance") return true;
  return false;
}

}  // namespace spinescan::pacs
