#pragma once
// What may name an output and what may be printed about an input.
//
// Names that become a file or folder under an output folder (case names from dataset.json,
// report folders named after a study): only [A-Za-z0-9._-], never "." or "..", so no name
// can climb out of --out or hide a path separator.
#include <string>

namespace spinescan {

bool is_safe_name(const std::string& name);

// The name with every other character replaced by '_'; "" when nothing usable is left
// (empty, ".", ".."), so the caller can refuse.
std::string to_safe_name(const std::string& name);

// `message` with every mention of `path` (as given, normalised, absolute or canonical, and
// whatever file name follows it) replaced by `label`: folder and file names of a hospital's
// studies often hold the patient's name or record number.
std::string redact_path(const std::string& message, const std::string& path, const std::string& label);

}  // namespace spinescan
