#pragma once
// Names that become a file or folder under an output folder (case names from dataset.json,
// report folders named after a study): only [A-Za-z0-9._-], never "." or "..", so no name
// can climb out of --out or hide a path separator.
#include <string>

namespace spinescan {

bool is_safe_name(const std::string& name);

// The name with every other character replaced by '_'; "" when nothing usable is left
// (empty, ".", ".."), so the caller can refuse.
std::string to_safe_name(const std::string& name);

}  // namespace spinescan
