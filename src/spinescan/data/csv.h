#pragma once
// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines.
#include <filesystem>
#include <string>
#include <vector>

namespace spinescan {

using CsvRow = std::vector<std::string>;
// Parses the whole text; throws DataError (naming `source` and the line) on an unterminated quote.
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source);
// Reads and parses a whole file; throws DataError when it is missing or unreadable.
std::vector<CsvRow> read_csv_file(const std::filesystem::path& path);
std::string csv_escape(const std::string& field);
std::string csv_line(const CsvRow& fields);

}  // namespace spinescan
