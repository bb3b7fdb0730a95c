#pragma once
// A model bundle's manifest.json holds one section per stage ("detector", "classifier",
// "aggregator", "levels", "ood"); each stage writes its own section and keeps the others.
// Its "version" says which layout it has.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace spinescan {

// The manifest layout this spinescan reads. Version 2: the level model is a section of its
// own ("levels", written only by `model add-levels` from `train levels`), and version 1's
// one-feature level rule is gone. A manifest without "version" is version 1, whose level
// model sat inside "aggregator" (`spinescan model upgrade` turns one into version 2).
constexpr int kManifestVersion = 2;

// The manifest's "version" (1 when absent); ModelError when it is not a positive integer.
int manifest_version(const nlohmann::json& manifest);

// ModelError unless `manifest` (of the bundle `folder`, "BUNDLE" when not known) is version
// kManifestVersion: for an older one the message says what changed and which command upgrades
// it; for a newer one, that a newer spinescan made it.
void check_manifest_version(const nlohmann::json& manifest, const std::string& folder = "BUNDLE");

// Sets manifest[section] = value in <folder>/manifest.json, atomically. A new manifest is
// version kManifestVersion; an older one keeps its version (analysis refuses it until it is
// upgraded), a newer one is refused.
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
