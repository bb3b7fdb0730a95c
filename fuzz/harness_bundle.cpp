#include <filesystem>
#include <fstream>

#include "harness.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/pipeline/analyze.h"

namespace spinescan::fuzz {

bool bundle_manifest_input(const uint8_t* data, size_t size) {
  const std::filesystem::path bundle = fresh_scratch_folder();
  {
    std::ofstream out(bundle / "manifest.json", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  nlohmann::json manifest;
  try {
    manifest = read_manifest(bundle);
  } catch (const Error&) {
    return false;  // refused with a typed error: what a bad input must get
  }
  // `spinescan model upgrade` reads the same file: a typed error or a manifest that checks.
  try {
    const pipeline::ManifestUpgrade up = pipeline::upgrade_manifest(manifest);
    if (!up.changes.empty()) pipeline::check_bundle_manifest(up.manifest);
  } catch (const Error&) {
  }
  try {
    pipeline::check_bundle_manifest(manifest);
  } catch (const Error&) {
    return false;
  }
  return true;
}

}  // namespace spinescan::fuzz
