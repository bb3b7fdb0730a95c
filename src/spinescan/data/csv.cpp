#include "spinescan/data/csv.h"

#include <fstream>
#include <sstream>

#include "spinescan/core/errors.h"

namespace spinescan {

std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source) {
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(field);
    field.clear();
    field_started = false;
  };
  auto end_row = [&] {
    end_field();
    if (!(row.size() == 1 && row[0].empty())) rows.push_back(row);  // skip blank lines
    row.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
      quote_line = line;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r') {
      // CRLF line endings: the '\n' ends the row.
    } else if (c == '\n') {
      ++line;
      end_row();
    } else {
      field += c;
      field_started = true;
    }
  }
  SPINESCAN_CHECK(!quoted, source, ": unterminated quoted field starting on line ", quote_line);
  if (field_started || !field.empty() || !row.empty()) end_row();
  return rows;
}

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_line(const CsvRow& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_escape(fields[i]);
  return out + "\n";
}

std::vector<CsvRow> read_csv_file(const std::filesystem::path& path) {
  SPINESCAN_CHECK(std::filesystem::is_regular_file(path), path.string(), ": no such file");
  std::ifstream in(path, std::ios::binary);
  SPINESCAN_CHECK(in, path.string(), ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_csv(text.str(), path.string());
}

}  // namespace spinescan
