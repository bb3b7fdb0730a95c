#pragma once
// A model bundle's manifest.json holds one section per stage ("detector", "classifier",
// "aggregator"); each stage writes its own section and keeps the others.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace spinescan {

// Sets manifest[section] = value in <folder>/manifest.json (created when absent), atomically.
void write_manifest_section(const std::filesystem::path& folder, const std::string& section, const nlohmann::json& value);

// The parsed <folder>/manifest.json; ModelError when missing or invalid.
nlohmann::json read_manifest(const std::filesystem::path& folder);

// A bundle folder, or a training run folder whose best/ holds the bundle.
std::filesystem::path resolve_bundle_folder(const std::filesystem::path& folder_or_run);

// "<canonical folder>#<hash of the bundle's manifest section>": stands for a stage's weights
// (its section changes whenever new weights are put in, and holds their provenance) in the
// keys of cached results computed with them.
std::string model_key(const std::filesystem::path& folder_or_run, const std::string& section);

// A JSON file; DataError naming the file and `what` it should have been when unreadable.
nlohmann::json read_json_file(const std::filesystem::path& path, const char* what);

}  // namespace spinescan
