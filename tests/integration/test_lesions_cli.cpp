// `spinescan synth lesions` and `synth render-lesions` on a phantom dataset: same seed, same
// bytes; the painted bodies and only they are pathological=1 with their finding; the result
// is a valid dataset; one picture per lesion; bad options exit with one line.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "spinescan/data/csv.h"
#include "test_util.h"

using spinescan::testing::read_file;
using spinescan::testing::Result;
using spinescan::testing::run_cli;
using spinescan::testing::TempDir;

namespace {

std::vector<std::filesystem::path> files_under(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), root));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(LesionsCli, SameSeedSameBytesAndOnlyPaintedBodiesArePathological) {
  TempDir tmp;
  const auto src = tmp / "src";
  spinescan::PhantomOptions o = spinescan::testing::small_phantom_options();
  o.pathology_probability = 0.3;
  spinescan::write_phantom_dataset(src, 4, 17, o, false);
  const std::string base = "synth lesions --data " + src.string() + " --fraction 0.5";
  ASSERT_EQ(run_cli(base + " --out " + (tmp / "a").string() + " --seed 3").exit_code, 0);
  ASSERT_EQ(run_cli(base + " --out " + (tmp / "b").string() + " --seed 3").exit_code, 0);
  ASSERT_EQ(run_cli(base + " --out " + (tmp / "c").string() + " --seed 4").exit_code, 0);
  const auto files = files_under(tmp / "a");
  ASSERT_EQ(files, files_under(tmp / "b"));
  int images_differ = 0;
  for (const auto& f : files) {
    EXPECT_EQ(read_file(tmp / "a" / f), read_file(tmp / "b" / f)) << f;
    if (f.filename() == "image.nii.gz") images_differ += read_file(tmp / "a" / f) != read_file(tmp / "c" / f);
  }
  EXPECT_GT(images_differ, 0) << "another seed paints other lesions";

  // lesions.csv names exactly the bodies that vertebrae.csv marks pathological, with their finding.
  std::map<std::pair<std::string, std::string>, std::string> painted;  // (case, label) -> finding
  const auto lesions = spinescan::parse_csv(read_file(tmp / "a" / "lesions.csv"), "lesions.csv");
  ASSERT_EQ(lesions.at(0).at(0), "case");
  ASSERT_GT(lesions.size(), 1u);
  for (size_t i = 1; i < lesions.size(); ++i) {
    std::string labels = lesions[i].at(1) + ";";
    for (size_t p; (p = labels.find(';')) != std::string::npos; labels.erase(0, p + 1))
      painted[{lesions[i][0], labels.substr(0, p)}] = lesions[i].at(2);
  }
  const auto rows = spinescan::parse_csv(read_file(tmp / "a" / "vertebrae.csv"), "vertebrae.csv");
  size_t marked = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto it = painted.find({rows[i].at(0), rows[i].at(1)});
    if (it != painted.end()) {
      EXPECT_EQ(rows[i].at(3), "1");
      EXPECT_EQ(rows[i].at(4), it->second);
      ++marked;
    } else {
      EXPECT_NE(rows[i].at(3), "1") << "an unpainted body with a source label 1 becomes unknown: " << rows[i].at(5);
    }
  }
  EXPECT_EQ(marked, painted.size());

  const Result check = run_cli("dataset check " + (tmp / "a").string());
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  const Result render = run_cli("synth render-lesions --original " + src.string() + " --painted " + (tmp / "a").string() +
                                " --out " + (tmp / "pictures").string());
  ASSERT_EQ(render.exit_code, 0) << render.err;
  EXPECT_EQ(files_under(tmp / "pictures").size(), lesions.size() - 1);

  // A subset of cases paints each of them exactly as the whole run did (per-case seeds).
  const std::string two = "phantom_001,phantom_003";
  ASSERT_EQ(run_cli(base + " --out " + (tmp / "d").string() + " --seed 3 --cases " + two).exit_code, 0);
  EXPECT_EQ(files_under(tmp / "d" / "cases"), (std::vector<std::filesystem::path>{
                                                  "phantom_001/image.nii.gz", "phantom_001/vertebrae.nii.gz",
                                                  "phantom_003/image.nii.gz", "phantom_003/vertebrae.nii.gz"}));
  for (const char* f : {"cases/phantom_001/image.nii.gz", "cases/phantom_003/vertebrae.nii.gz"})
    EXPECT_EQ(read_file(tmp / "d" / f), read_file(tmp / "a" / f)) << f;
}

TEST(LesionsCli, BadOptionsExitWithOneLine) {
  TempDir tmp;
  spinescan::write_phantom_dataset(tmp / "src", 1, 2, spinescan::testing::small_phantom_options(), false);
  for (const std::string& bad :
       {std::string("--family c"), std::string("--findings gout"), std::string("--fraction 0"), std::string("--cases phantom_9")}) {
    const Result r = run_cli("synth lesions --data " + (tmp / "src").string() + " --out " + (tmp / "x").string() + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ": " << r.err;
    EXPECT_FALSE(std::filesystem::exists(tmp / "x")) << bad;
  }
  const Result missing = run_cli("synth lesions --data " + (tmp / "nothing").string() + " --out " + (tmp / "y").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "y"));
}
