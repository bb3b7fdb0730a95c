#include <gtest/gtest.h>

#include "spinescan/core/errors.h"
#include "spinescan/core/safe_name.h"
#include "spinescan/data/csv.h"
#include "spinescan/data/dataset.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "test_util.h"

using namespace spinescan;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;
using spinescan::testing::write_file;

namespace {

// A valid two-case phantom dataset, written once and copied by each test that breaks it.
const std::filesystem::path& valid_dataset() {
  static TempDir dir;
  static const std::filesystem::path root = [] {
    write_phantom_dataset(dir / "ds", 2, 23, spinescan::testing::small_phantom_options(), false);
    return dir / "ds";
  }();
  return root;
}

struct BrokenCopy {
  TempDir tmp;
  std::filesystem::path root;
  BrokenCopy() : root(tmp / "ds") { std::filesystem::copy(valid_dataset(), root, std::filesystem::copy_options::recursive); }
  std::vector<DatasetProblem> check() const { return check_dataset(load_dataset(root)); }
};

bool has_problem(const std::vector<DatasetProblem>& problems, const std::string& case_name, const std::string& fragment) {
  for (const auto& p : problems)
    if (p.case_name == case_name && p.message.find(fragment) != std::string::npos) return true;
  return false;
}

std::string describe(const std::vector<DatasetProblem>& problems) {
  std::string s;
  for (const auto& p : problems) s += p.case_name + ": " + p.message + "\n";
  return s;
}

}  // namespace

TEST(Csv, QuotedFieldsCommasQuotesAndCrlf) {
  const auto rows = parse_csv("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\r\n2,,\n", "t.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], (CsvRow{"1", "x, y", "say \"hi\""}));
  EXPECT_EQ(rows[2], (CsvRow{"2", "", ""}));
  EXPECT_THROW(parse_csv("a,\"open\n", "t.csv"), DataError);
  EXPECT_EQ(parse_csv(csv_line({"p", "q,r", "s\"t"}), "x")[0], (CsvRow{"p", "q,r", "s\"t"}));
}

TEST(Levels, OrderRunsCranialToCaudal) {
  EXPECT_LT(level_order("T12"), level_order("L1"));
  EXPECT_LT(level_order("L5"), level_order("S1"));
  EXPECT_EQ(level_order("L6") - level_order("L5"), 1);
  EXPECT_TRUE(is_known_level("T9"));
  EXPECT_FALSE(is_known_level("L7"));
  EXPECT_FALSE(is_known_level("X1"));
  EXPECT_FALSE(is_known_level("L"));
  EXPECT_FALSE(is_known_level("L+1"));
}

TEST(Dataset, ValidPhantomDatasetHasNoProblems) {
  const Dataset d = load_dataset(valid_dataset());
  ASSERT_EQ(d.cases.size(), 2u);
  EXPECT_FALSE(d.vertebrae.empty());
  const auto problems = check_dataset(d);
  EXPECT_TRUE(problems.empty()) << describe(problems);
  const DatasetStats s = compute_stats(d);
  EXPECT_EQ(s.num_cases, 2u);
  EXPECT_EQ(s.num_bodies, d.vertebrae.size());
  EXPECT_EQ(s.num_pathological + s.num_healthy + s.num_unknown, s.num_bodies);
  EXPECT_EQ(s.bodies_per_level.at("S1"), 2u);
  // Phantom bodies are 22-36 mm deep and 15-30 mm high on a slice.
  EXPECT_GT(s.box_width_mm[1], 15);
  EXPECT_LT(s.box_width_mm[1], 45);
  EXPECT_GT(s.box_height_mm[1], 12);
  EXPECT_LT(s.box_height_mm[1], 40);
}

TEST(Dataset, CsvRowNamingAMissingLabel) {
  BrokenCopy b;
  write_file(b.root / "vertebrae.csv", read_file(b.root / "vertebrae.csv") + "phantom_000,42,L3,1,,\n");
  EXPECT_TRUE(has_problem(b.check(), "phantom_000", "names label 42, which is not in the label volume"));
}

TEST(Dataset, LabelWithoutCsvRow) {
  BrokenCopy b;
  std::string csv = read_file(b.root / "vertebrae.csv");
  const auto first_row = csv.find("phantom_001,1,");
  csv.erase(first_row, csv.find('\n', first_row) - first_row + 1);
  write_file(b.root / "vertebrae.csv", csv);
  EXPECT_TRUE(has_problem(b.check(), "phantom_001", "label 1 is in the label volume but has no row"));
}

TEST(Dataset, LabelVolumeOnAnotherGrid) {
  BrokenCopy b;
  const auto path = b.root / "cases/phantom_000/vertebrae.nii.gz";
  Volume<uint16_t> labels = read_label_volume(path);
  labels.spacing_mm[0] *= 1.5;
  write_volume(labels, path);
  EXPECT_TRUE(has_problem(b.check(), "phantom_000", "not on the image grid: spacing"));
  Volume<uint16_t> cropped = labels;
  cropped.spacing_mm[0] /= 1.5;
  cropped.size[2] -= 1;
  cropped.voxels.resize(cropped.num_voxels());
  write_volume(cropped, path);
  EXPECT_TRUE(has_problem(b.check(), "phantom_000", "not on the image grid: size"));
}

TEST(Dataset, MissingAndCorruptFiles) {
  BrokenCopy b;
  std::filesystem::remove(b.root / "cases/phantom_000/image.nii.gz");
  write_file(b.root / "cases/phantom_001/vertebrae.nii.gz", "garbage");
  const auto problems = b.check();
  EXPECT_TRUE(has_problem(problems, "phantom_000", "image missing")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, "phantom_001", "vertebrae.nii.gz")) << describe(problems);
}

TEST(Dataset, UnknownLevelsBadValuesAndDuplicates) {
  BrokenCopy b;
  std::string csv = read_file(b.root / "vertebrae.csv");
  write_file(b.root / "vertebrae.csv", csv + "phantom_000,1,L3,0,,duplicate\nghost,1,Q7,0,,\n");
  const auto problems = b.check();
  EXPECT_TRUE(has_problem(problems, "phantom_000", "more than one row for label 1")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, "ghost", "not in the dataset"));
  EXPECT_TRUE(has_problem(problems, "ghost", "unknown level 'Q7'"));
  write_file(b.root / "vertebrae.csv", csv + "phantom_000,9,L3,maybe,,\n");
  EXPECT_THROW(load_dataset(b.root), DataError);
  write_file(b.root / "vertebrae.csv", "case,label\n");
  EXPECT_THROW(load_dataset(b.root), DataError);
  write_file(b.root / "dataset.json", "{ not json");
  EXPECT_THROW(load_dataset(b.root), DataError);
}

TEST(Dataset, CasesAreFoundFromFoldersWhenTheManifestListsNone) {
  BrokenCopy b;
  write_file(b.root / "dataset.json", "{\"name\": \"no case list\"}");
  const Dataset d = load_dataset(b.root);
  ASSERT_EQ(d.cases.size(), 2u);
  EXPECT_EQ(d.cases[0].name, "phantom_000");
  EXPECT_TRUE(check_dataset(d).empty());
}

namespace spinescan {
namespace {

TEST(SafeName, OnlyPlainCharactersAndNeverDotOrDotDot) {
  EXPECT_TRUE(is_safe_name("spider_110"));
  EXPECT_TRUE(is_safe_name("vb2-03.v1"));
  for (const char* bad : {"", ".", "..", "../x", "a/b", "a\\b", "x y", "caf\xc3\xa9", "a\nb"})
    EXPECT_FALSE(is_safe_name(bad)) << bad;
  EXPECT_EQ(to_safe_name("../x"), ".._x");
  EXPECT_EQ(to_safe_name("Doe^John 1.2.840"), "Doe_John_1.2.840");
  EXPECT_EQ(to_safe_name(".."), "");
  EXPECT_EQ(to_safe_name(""), "");
}

TEST(SafeName, RedactPathReplacesEveryFormOfTheStudyPathAndTheFileInIt) {
  const std::string rel = "exports/Doe_Jane_123";
  const std::string abs = std::filesystem::absolute(rel).lexically_normal().string();
  const std::string msg = rel + ": no DICOM series; " + abs + "/IM0001.dcm: truncated ('" + rel + "/') and " + rel + "/x.dcm: bad";
  const std::string out = redact_path(msg, rel + "/", "study 3");
  EXPECT_EQ(out.find("Doe_Jane"), std::string::npos) << out;
  EXPECT_EQ(out.find("IM0001"), std::string::npos) << out;
  EXPECT_EQ(out, "study 3: no DICOM series; study 3: truncated ('study 3') and study 3: bad");
  EXPECT_EQ(redact_path("nothing here", rel, "x"), "nothing here");
}

TEST(Dataset, ACaseNameThatWouldLeaveTheOutputFolderIsRefused) {
  for (const char* bad : {"../escape", "a/b", ".."}) {
    testing::TempDir tmp;
    std::filesystem::create_directories(tmp / "ds");
    std::ofstream(tmp / "ds" / "dataset.json") << nlohmann::json{{"cases", {{{"case", bad}}}}}.dump();
    std::ofstream(tmp / "ds" / "vertebrae.csv") << "case,label,level,pathological\n";
    try {
      load_dataset(tmp / "ds");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("may only hold letters"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace spinescan
