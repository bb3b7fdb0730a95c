#include "spinescan/core/safe_name.h"

namespace spinescan {
namespace {
bool allowed(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}
}  // namespace

bool is_safe_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  for (char c : name)
    if (!allowed(c)) return false;
  return true;
}

std::string to_safe_name(const std::string& name) {
  std::string out = name.substr(0, 255);
  for (char& c : out)
    if (!allowed(c)) c = '_';
  return is_safe_name(out) ? out : std::string();
}

}  // namespace spinescan
