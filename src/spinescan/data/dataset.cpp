#include "spinescan/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/safe_name.h"
#include "spinescan/data/boxes.h"
#include "spinescan/data/csv.h"
#include "spinescan/io/normalize.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"

namespace fs = std::filesystem;

namespace spinescan {
namespace {

std::string read_text(const fs::path& path) {
  SPINESCAN_CHECK(fs::is_regular_file(path), path.string(), ": no such file");
  std::ifstream in(path, std::ios::binary);
  SPINESCAN_CHECK(in, path.string(), ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<VertebraRow> parse_vertebrae_csv(const fs::path& path) {
  const auto rows = read_csv_file(path);
  SPINESCAN_CHECK(!rows.empty(), path.string(), ": empty file (a header line is needed)");
  const CsvRow& header = rows.front();
  auto column = [&](const std::string& name, bool required) -> int {
    auto it = std::find(header.begin(), header.end(), name);
    SPINESCAN_CHECK(it != header.end() || !required, path.string(), ": missing column '", name, "'");
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int c_case = column("case", true), c_label = column("label", true), c_level = column("level", true),
            c_path = column("pathological", true), c_findings = column("findings", false),
            c_note = column("source_note", false);
  std::vector<VertebraRow> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    SPINESCAN_CHECK(row.size() == header.size(), path.string(), ": row ", r + 1, " has ", row.size(),
                    " fields, the header has ", header.size());
    VertebraRow v;
    v.case_name = row[c_case];
    const std::string& label = row[c_label];
    char* end = nullptr;
    const long value = std::strtol(label.c_str(), &end, 10);
    SPINESCAN_CHECK(!label.empty() && *end == '\0' && value > 0 && value < 65536, path.string(), ": row ", r + 1,
                    " (case ", v.case_name, "): label '", label, "' is not an integer in 1..65535");
    v.label = static_cast<int>(value);
    v.level = row[c_level];
    const std::string& p = row[c_path];
    SPINESCAN_CHECK(p.empty() || p == "0" || p == "1", path.string(), ": row ", r + 1, " (case ", v.case_name,
                    "): pathological must be 1, 0 or empty, got '", p, "'");
    if (!p.empty()) v.pathological = (p == "1");
    if (c_findings >= 0) v.findings = row[c_findings];
    if (c_note >= 0) v.source_note = row[c_note];
    out.push_back(std::move(v));
  }
  return out;
}

bool same_grid(const Volume<float>& a, const Volume<uint16_t>& b, std::string* why) {
  std::ostringstream msg;
  if (a.size != b.size) {
    msg << "size " << b.size[0] << "x" << b.size[1] << "x" << b.size[2] << " differs from the image's " << a.size[0]
        << "x" << a.size[1] << "x" << a.size[2];
  } else {
    for (int i = 0; i < 3 && msg.str().empty(); ++i) {
      if (std::abs(a.spacing_mm[i] - b.spacing_mm[i]) > 1e-4 * std::max(1.0, a.spacing_mm[i]))
        msg << "spacing " << b.spacing_mm[i] << " mm differs from the image's " << a.spacing_mm[i] << " mm on axis " << i;
      else if (std::abs(a.origin_lps[i] - b.origin_lps[i]) > 1e-3 * std::max(1.0, a.spacing_mm[i]))
        msg << "origin " << b.origin_lps[i] << " mm differs from the image's " << a.origin_lps[i] << " mm on axis " << i;
      for (int j = 0; j < 3 && msg.str().empty(); ++j)
        if (std::abs(a.direction[i][j] - b.direction[i][j]) > 1e-4) msg << "direction matrix differs from the image's";
    }
  }
  *why = msg.str();
  return why->empty();
}

}  // namespace

std::vector<VertebraRow> Dataset::rows_of(const std::string& case_name) const {
  std::vector<VertebraRow> out;
  for (const auto& v : vertebrae)
    if (v.case_name == case_name) out.push_back(v);
  return out;
}

const CaseEntry& Dataset::case_named(const std::string& name) const {
  for (const auto& c : cases)
    if (c.name == name) return c;
  throw DataError(root.string() + ": no case named '" + name + "'");
}

bool Dataset::has_pathological(const std::string& case_name) const {
  return std::any_of(vertebrae.begin(), vertebrae.end(), [&](const VertebraRow& v) {
    return v.case_name == case_name && v.pathological.value_or(false);
  });
}

Dataset load_dataset(const fs::path& root) {
  SPINESCAN_CHECK(fs::is_directory(root), root.string(), ": no such dataset folder");
  Dataset d;
  d.root = fs::absolute(root);
  const fs::path manifest_path = root / "dataset.json";
  try {
    d.manifest = nlohmann::json::parse(read_text(manifest_path));
  } catch (const nlohmann::json::exception& e) {
    throw DataError(manifest_path.string() + ": invalid JSON: " + e.what());
  }
  SPINESCAN_CHECK(d.manifest.is_object(), manifest_path.string(), ": must hold a JSON object");
  if (d.manifest.contains("cases") && d.manifest["cases"].is_array() && !d.manifest["cases"].empty()) {
    for (const auto& c : d.manifest["cases"]) {
      SPINESCAN_CHECK(c.is_object() && c.contains("case") && c["case"].is_string(), manifest_path.string(),
                      ": every entry of 'cases' needs a string 'case'");
      CaseEntry e;
      e.name = c["case"].get<std::string>();
      SPINESCAN_CHECK(is_safe_name(e.name), manifest_path.string(), ": case name '", e.name,
                      "' may only hold letters, digits, '.', '_' and '-' (and is not '.' or '..'): it names output folders");
      e.image = d.root / c.value("image", "cases/" + e.name + "/image.nii.gz");
      e.labels = d.root / c.value("labels", "cases/" + e.name + "/vertebrae.nii.gz");
      d.cases.push_back(e);
    }
  } else {
    SPINESCAN_CHECK(fs::is_directory(root / "cases"), root.string(), ": dataset.json lists no cases and there is no cases/ folder");
    for (const auto& entry : fs::directory_iterator(root / "cases"))
      if (entry.is_directory()) {
        const std::string name = entry.path().filename().string();
        SPINESCAN_CHECK(is_safe_name(name), (root / "cases").string(), ": case folder '", name,
                        "' may only hold letters, digits, '.', '_' and '-': it names output folders");
        d.cases.push_back({name, d.root / "cases" / name / "image.nii.gz", d.root / "cases" / name / "vertebrae.nii.gz"});
      }
    std::sort(d.cases.begin(), d.cases.end(), [](const CaseEntry& a, const CaseEntry& b) { return a.name < b.name; });
  }
  d.vertebrae = parse_vertebrae_csv(root / "vertebrae.csv");
  return d;
}

int level_order(const std::string& level) {
  if (level.size() < 2) return -1;
  const char region = level[0];
  char* end = nullptr;
  const long n = std::strtol(level.c_str() + 1, &end, 10);
  if (*end != '\0' || level[1] == '+' || level[1] == '-') return -1;
  switch (region) {
    case 'C': return n >= 1 && n <= 7 ? static_cast<int>(n - 1) : -1;
    case 'T': return n >= 1 && n <= 13 ? static_cast<int>(7 + n - 1) : -1;
    case 'L': return n >= 1 && n <= 6 ? static_cast<int>(20 + n - 1) : -1;
    case 'S': return n >= 1 && n <= 5 ? static_cast<int>(26 + n - 1) : -1;
    default: return -1;
  }
}

std::string case_source(const std::string& case_name) { return case_name.substr(0, case_name.find('_')); }

bool is_known_level(const std::string& level) { return level_order(level) >= 0; }

std::vector<DatasetProblem> check_dataset(const Dataset& d, const std::function<void(size_t, size_t)>& on_case) {
  std::vector<DatasetProblem> problems;
  std::set<std::string> case_names;
  for (const auto& c : d.cases)
    if (!case_names.insert(c.name).second) problems.push_back({c.name, "listed twice in dataset.json"});
  std::set<std::pair<std::string, int>> seen_rows;
  for (const auto& v : d.vertebrae) {
    if (!case_names.count(v.case_name))
      problems.push_back({v.case_name, "vertebrae.csv names a case that is not in the dataset"});
    if (!seen_rows.insert({v.case_name, v.label}).second)
      problems.push_back({v.case_name, "vertebrae.csv has more than one row for label " + std::to_string(v.label)});
    if (!v.level.empty() && !is_known_level(v.level))
      problems.push_back({v.case_name, "label " + std::to_string(v.label) + ": unknown level '" + v.level + "'"});
  }
  size_t done = 0;
  for (const auto& c : d.cases) {
    auto report = [&](const std::string& m) { problems.push_back({c.name, m}); };
    try {
      std::optional<Volume<float>> image;
      if (!fs::exists(c.image)) {
        report("image missing: " + c.image.string());
      } else {
        try {
          image = read_volume(c.image);  // native grid, to compare with the labels
          check_volume_content(*image, c.image);
        } catch (const Error& e) {
          report(e.what());
        }
      }
      if (!fs::exists(c.labels)) {
        report("label volume missing: " + c.labels.string());
      } else {
        Volume<uint16_t> labels;
        try {
          labels = read_label_volume(c.labels);
        } catch (const Error& e) {
          report(e.what());
          continue;
        }
        std::string why;
        if (image && !same_grid(*image, labels, &why)) report(c.labels.filename().string() + " not on the image grid: " + why);
        std::set<int> in_volume;
        for (uint16_t l : labels.voxels)
          if (l) in_volume.insert(l);
        std::set<int> in_csv;
        for (const auto& v : d.vertebrae)
          if (v.case_name == c.name) in_csv.insert(v.label);
        for (int l : in_volume)
          if (!in_csv.count(l)) report("label " + std::to_string(l) + " is in the label volume but has no row in vertebrae.csv");
        for (int l : in_csv)
          if (!in_volume.count(l)) report("vertebrae.csv row names label " + std::to_string(l) + ", which is not in the label volume");
        if (in_volume.empty()) report("label volume holds no vertebral body");
      }
    } catch (const std::exception& e) {
      report(e.what());
    }
    if (on_case) on_case(++done, d.cases.size());
  }
  return problems;
}

DatasetStats compute_stats(const Dataset& d, const std::function<void(size_t, size_t)>& on_case) {
  DatasetStats s;
  s.num_cases = d.cases.size();
  for (const auto& v : d.vertebrae) {
    ++s.num_bodies;
    if (!v.pathological) ++s.num_unknown;
    else if (*v.pathological) ++s.num_pathological;
    else ++s.num_healthy;
    ++s.bodies_per_level[v.level.empty() ? "?" : v.level];
  }
  for (const auto& c : d.cases) s.cases_with_pathological += d.has_pathological(c.name);
  std::vector<float> widths, heights, aspects;
  bool first = true;
  size_t done = 0;
  for (const auto& c : d.cases) {
    const Volume<uint16_t> labels = to_canonical(read_label_volume(c.labels));
    const size_t slices = static_cast<size_t>(labels.size[2]);
    s.min_slices = first ? slices : std::min(s.min_slices, slices);
    s.max_slices = std::max(s.max_slices, slices);
    s.total_slices += slices;
    for (int a = 0; a < 3; ++a) {
      s.min_spacing_mm[a] = first ? labels.spacing_mm[a] : std::min(s.min_spacing_mm[a], labels.spacing_mm[a]);
      s.max_spacing_mm[a] = std::max(s.max_spacing_mm[a], labels.spacing_mm[a]);
    }
    first = false;
    for (const auto& slice_boxes : boxes_per_slice(labels)) {
      if (!slice_boxes.empty()) ++s.slices_with_bodies;
      for (const auto& b : slice_boxes) {
        const double w = b.box.width() * labels.spacing_mm[0], h = b.box.height() * labels.spacing_mm[1];
        widths.push_back(static_cast<float>(w));
        heights.push_back(static_cast<float>(h));
        aspects.push_back(static_cast<float>(h / w));
      }
    }
    if (on_case) on_case(++done, d.cases.size());
  }
  s.num_boxes = widths.size();
  if (!widths.empty()) {
    const double qs[3] = {5, 50, 95};
    for (int i = 0; i < 3; ++i) {
      s.box_width_mm[i] = percentile(widths, qs[i]);
      s.box_height_mm[i] = percentile(heights, qs[i]);
      s.box_aspect[i] = percentile(aspects, qs[i]);
    }
  }
  return s;
}

std::string format_stats(const DatasetStats& s) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(3);
  o << "cases:                 " << s.num_cases << " (" << s.cases_with_pathological << " with a pathological body)\n";
  o << "vertebral bodies:      " << s.num_bodies << "\n";
  o << "pathological 1/0/?:    " << s.num_pathological << " / " << s.num_healthy << " / " << s.num_unknown << "\n";
  o << "bodies per level:     ";
  std::vector<std::pair<std::string, size_t>> levels(s.bodies_per_level.begin(), s.bodies_per_level.end());
  std::sort(levels.begin(), levels.end(), [](const auto& a, const auto& b) { return level_order(a.first) < level_order(b.first); });
  for (const auto& [level, n] : levels) o << " " << level << "=" << n;
  o << "\n";
  o << "sagittal slices:       " << s.total_slices << " in all, " << s.min_slices << ".." << s.max_slices
    << " per case, " << s.slices_with_bodies << " through a body\n";
  o << "spacing mm (A-P col):  " << s.min_spacing_mm[0] << ".." << s.max_spacing_mm[0] << "\n";
  o << "spacing mm (S-I row):  " << s.min_spacing_mm[1] << ".." << s.max_spacing_mm[1] << "\n";
  o << "spacing mm (L-R slice):" << " " << s.min_spacing_mm[2] << ".." << s.max_spacing_mm[2] << "\n";
  o.precision(1);
  o << "body boxes per slice:  " << s.num_boxes << "; width (A-P) mm p5/p50/p95 " << s.box_width_mm[0] << "/"
    << s.box_width_mm[1] << "/" << s.box_width_mm[2] << "; height (S-I) mm " << s.box_height_mm[0] << "/"
    << s.box_height_mm[1] << "/" << s.box_height_mm[2];
  o.precision(2);
  o << "; height/width " << s.box_aspect[0] << "/" << s.box_aspect[1] << "/" << s.box_aspect[2] << "\n";
  return o.str();
}

}  // namespace spinescan
