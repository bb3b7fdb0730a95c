#include "spinescan/core/safe_name.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <vector>

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

std::string redact_path(const std::string& message, const std::string& path, const std::string& label) {
  namespace fs = std::filesystem;
  std::set<std::string> forms;
  auto add = [&](std::string f) {
    while (f.size() > 1 && f.back() == '/') f.pop_back();
    if (f.size() >= 2 && f != "..") forms.insert(f);
  };
  add(path);
  std::error_code ec;
  add(fs::path(path).lexically_normal().string());
  add(fs::absolute(path, ec).string());
  add(fs::absolute(path, ec).lexically_normal().string());
  const auto canonical = fs::weakly_canonical(path, ec);
  if (!ec) add(canonical.string());
  // Longest first, so "/data/Doe_Jane" is not left as "/data/" + a shorter form's label.
  std::vector<std::string> by_length(forms.begin(), forms.end());
  std::sort(by_length.begin(), by_length.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  auto ends_path = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == ':' || c == '\'' || c == '"' || c == ')' || c == ','; };
  std::string out = message;
  for (const auto& form : by_length) {
    for (size_t at = out.find(form); at != std::string::npos; at = out.find(form, at + label.size())) {
      size_t end = at + form.size();
      while (end < out.size() && !ends_path(out[end])) ++end;  // a file inside the study folder
      out.replace(at, end - at, label);
    }
  }
  return out;
}

}  // namespace spinescan
