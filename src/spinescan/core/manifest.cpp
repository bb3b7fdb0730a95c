#include "spinescan/core/manifest.h"

#include <fstream>
#include <functional>

#include "spinescan/core/atomic_file.h"
#include "spinescan/core/errors.h"

namespace fs = std::filesystem;

namespace spinescan {

int manifest_version(const nlohmann::json& manifest) {
  if (!manifest.is_object() || !manifest.contains("version")) return 1;
  const nlohmann::json& v = manifest["version"];
  SPINESCAN_CHECK_AS(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 1000, ModelError,
                     "manifest.json: version ", v.dump(), " is not a positive integer");
  return static_cast<int>(v.get<int64_t>());
}

void check_manifest_version(const nlohmann::json& manifest, const std::string& folder) {
  const int v = manifest_version(manifest);
  const std::string file = folder == "BUNDLE" ? std::string("manifest.json") : (fs::path(folder) / "manifest.json").string();
  SPINESCAN_CHECK_AS(v <= kManifestVersion, ModelError, file, " is version ", v, "; this spinescan reads version ", kManifestVersion,
                     ": the bundle was made by a newer spinescan");
  SPINESCAN_CHECK_AS(v == kManifestVersion, ModelError, file, " is version ", v, ", from before the level model had a section of its "
                     "own and the one-feature level rule was dropped; this spinescan reads version ", kManifestVersion,
                     ": run `spinescan model upgrade ", folder, "` once");
}

void write_manifest_section(const fs::path& folder, const std::string& section, const nlohmann::json& value) {
  fs::create_directories(folder);
  nlohmann::json manifest = {{"version", kManifestVersion}};
  const fs::path path = folder / "manifest.json";
  // A manifest that cannot be read is an error, never replaced: replacing it would drop the
  // other stages' sections (and with them the bundle's provenance) without a word.
  if (fs::exists(path)) {
    manifest = read_manifest(folder);
    SPINESCAN_CHECK_AS(manifest.is_object(), ModelError, path.string(), ": not a JSON object; fix or remove it");
    const int version = manifest_version(manifest);
    SPINESCAN_CHECK_AS(version <= kManifestVersion, ModelError, path.string(), ": version ", version,
                       " was made by a newer spinescan; this one writes version ", kManifestVersion);
  }
  manifest[section] = value;
  write_text_atomically(path, manifest.dump(2) + "\n");
}

nlohmann::json read_manifest(const fs::path& folder) {
  const fs::path path = folder / "manifest.json";
  SPINESCAN_CHECK_AS(fs::is_regular_file(path), ModelError, folder.string(),
                     ": not a model bundle or training run (no manifest.json)");
  try {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(path.string() + ": invalid JSON: " + e.what());
  }
}

fs::path resolve_bundle_folder(const fs::path& folder_or_run) {
  if (!fs::exists(folder_or_run / "manifest.json") && fs::exists(folder_or_run / "best" / "manifest.json"))
    return folder_or_run / "best";
  return folder_or_run;
}

std::string model_key(const std::filesystem::path& folder_or_run, const std::string& section) {
  const nlohmann::json m = read_manifest(resolve_bundle_folder(folder_or_run));
  return std::filesystem::weakly_canonical(folder_or_run).string() + "#" +
         std::to_string(std::hash<std::string>{}(m.contains(section) ? m[section].dump() : std::string()));
}

nlohmann::json read_json_file(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path);
  SPINESCAN_CHECK(in, path.string(), ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path.string() + ": not " + what + ": " + e.what());
  }
}

}  // namespace spinescan
