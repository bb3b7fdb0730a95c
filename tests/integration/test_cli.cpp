// The spinescan program exercised end to end on phantom data, as a user runs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "spinescan/data/boxes.h"
#include "spinescan/eval/detection_metrics.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"
#include "spinescan/io/volume_writer.h"
#include "test_util.h"

using spinescan::testing::TempDir;
using spinescan::testing::read_file;
using spinescan::testing::write_file;
using spinescan::testing::run_cli;
using spinescan::testing::Result;

namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A small phantom dataset shared by the tests of this file (made once).
const std::filesystem::path& phantom_dataset() {
  static TempDir dir;
  static bool made = false;
  if (!made) {
    const Result r = run_cli("--threads 1 synth --out " + (dir / "ds").string() +
                             " --cases 3 --seed 7 --min-inplane-spacing 1.6 --max-inplane-spacing 2"
                             " --min-slice-spacing 3 --max-slice-spacing 4");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    made = true;
  }
  static const std::filesystem::path ds = dir / "ds";
  return ds;
}

}  // namespace

TEST(Cli, HelpListsTheSubcommandsAndFlagDefaults) {
  const Result r = run_cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* sub : {"info", "synth", "dataset", "--threads", "--version"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
  const Result synth = run_cli("synth --help");
  EXPECT_EQ(synth.exit_code, 0);
  EXPECT_NE(synth.out.find("--cases"), std::string::npos);
  EXPECT_NE(synth.out.find("=8 "), std::string::npos) << "default of --cases not shown:\n" << synth.out;
  const Result split = run_cli("dataset split --help");
  EXPECT_NE(split.out.find("=5 "), std::string::npos) << split.out;
}

TEST(Cli, VersionNamesVersionAndRevision) {
  const Result r = run_cli("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("spinescan 0.", 0), 0u) << r.out;
  EXPECT_NE(r.out.find('('), std::string::npos);
}

TEST(Cli, UnknownSubcommandIsAUsageError) {
  const Result r = run_cli("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, SynthThenCheckStatsSplitAndInfo) {
  const auto& ds = phantom_dataset();
  const Result check = run_cli("dataset check " + ds.string());
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("3 cases"), std::string::npos);
  EXPECT_NE(check.out.find("0 problem(s)"), std::string::npos);

  const Result stats = run_cli("dataset stats " + ds.string());
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("cases:                 3"), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("S1=3"), std::string::npos) << stats.out;  // every phantom has S1

  TempDir tmp;
  const Result split = run_cli("dataset split " + ds.string() + " --folds 3 --seed 4 --out " + (tmp / "s.json").string());
  EXPECT_EQ(split.exit_code, 0) << split.err;
  const auto j = nlohmann::json::parse(read_file(tmp / "s.json"));
  EXPECT_EQ(j["folds"].size(), 3u);
  EXPECT_EQ(j["seed"], 4);

  const Result info = run_cli("info " + (ds / "cases/phantom_000/image.nii.gz").string() + " --json --snapshot " +
                              (tmp / "mid.png").string());
  EXPECT_EQ(info.exit_code, 0) << info.err;
  const auto ij = nlohmann::json::parse(info.out);
  EXPECT_EQ(ij["format"], "NIfTI");
  EXPECT_EQ(ij["size_voxels"].size(), 3u);
  EXPECT_EQ(ij["orientation"].get<std::string>().size(), 3u);
  EXPECT_GE(ij["canonical"]["slices"].get<int>(), 2);
  EXPECT_EQ(read_file(tmp / "mid.png").substr(1, 3), "PNG");

  const Result text = run_cli("info " + (ds / "cases/phantom_001/image.nii.gz").string());
  EXPECT_NE(text.out.find("canonical sagittal:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("spacing (mm):"), std::string::npos);
}

TEST(Cli, SynthIsReproducibleAndRefusesToOverwrite) {
  TempDir tmp;
  const std::string flags = " --cases 1 --seed 11 --min-inplane-spacing 2 --max-inplane-spacing 2.2"
                            " --min-slice-spacing 4 --max-slice-spacing 4";
  ASSERT_EQ(run_cli("synth --out " + (tmp / "a").string() + flags).exit_code, 0);
  ASSERT_EQ(run_cli("synth --out " + (tmp / "b").string() + flags).exit_code, 0);
  for (const char* f : {"vertebrae.csv", "cases/phantom_000/vertebrae.nii.gz", "cases/phantom_000/image.nii.gz"})
    EXPECT_EQ(read_file(tmp / "a" / f), read_file(tmp / "b" / f)) << f;
  const Result again = run_cli("synth --out " + (tmp / "a").string() + flags);
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
}

TEST(Cli, DatasetCheckReportsEachProblemWithTheCaseAndExitsOne) {
  TempDir tmp;
  std::filesystem::copy(phantom_dataset(), tmp / "ds", std::filesystem::copy_options::recursive);
  std::string csv = read_file(tmp / "ds/vertebrae.csv");
  csv += "phantom_001,99,L3,0,,added by the test\n";
  write_file(tmp / "ds/vertebrae.csv", csv);
  std::filesystem::remove(tmp / "ds/cases/phantom_002/image.nii.gz");
  const Result r = run_cli("dataset check " + (tmp / "ds").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("phantom_001: vertebrae.csv row names label 99"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("phantom_002: image missing"), std::string::npos) << r.out;
}

TEST(Cli, BadInputGivesOneLineAndNonZeroExit) {
  TempDir tmp;
  write_file(tmp / "truncated.nii.gz", std::string("\x1f\x8b\x08\x00", 4) + std::string(20, 'x'));
  write_file(tmp / "notes.txt", "hello");
  std::filesystem::create_directories(tmp / "no_dicom");
  write_file(tmp / "no_dicom/readme.txt", "nothing here");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"info " + (tmp / "missing.nii.gz").string(), "no such file"},
      {"info " + (tmp / "truncated.nii.gz").string(), "the study: not a readable NIfTI header"},
      {"info " + (tmp / "notes.txt").string(), "unsupported file type"},
      {"info " + (tmp / "no_dicom").string(), "not a DICOM Part 10 file"},  // a folder may hold nothing else
      {"dataset check " + (tmp / "nowhere").string(), "no such dataset folder"},
      {"dataset split " + phantom_dataset().string() + " --folds 9", "exceeds the number of cases"},
  };
  for (const auto& [args, expected] : cases) {
    const Result r = run_cli(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(count_lines(r.err), 1) << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("spinescan: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\n" << r.err;
  }
}

TEST(Cli, DetectWithTheShippedModelWritesBoxesAndAPicture) {
  const std::filesystem::path bundle = std::filesystem::path(SPINESCAN_SOURCE_DIR) / "models/default";
  ASSERT_TRUE(std::filesystem::exists(bundle / "manifest.json")) << "the shipped model is missing";
  TempDir tmp;
  const Result r = run_cli("detect " + (phantom_dataset() / "cases/phantom_000/image.nii.gz").string() + " --model " +
                           bundle.string() + " --out " + (tmp / "det").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(tmp / "det/detections.json"));
  EXPECT_TRUE(j["detections"].is_array());
  EXPECT_GE(j["canonical"]["slices"].get<int>(), 2);
  // A box scores at least the operating score, or is marked linked and scores at least the
  // linked score (slice linking, detect/slice_linking.h).
  for (const auto& d : j["detections"]) {
    const double score = d["score"].get<double>();
    if (d["linked"].get<bool>()) {
      EXPECT_GE(score, j["linked_score"].get<double>()) << d.dump();
      EXPECT_LT(score, j["operating_score"].get<double>()) << d.dump();
    } else {
      EXPECT_GE(score, j["operating_score"].get<double>()) << d.dump();
    }
    EXPECT_LT(d["box_pixels"]["x1"].get<double>(), d["box_pixels"]["x2"].get<double>());
    EXPECT_LT(d["box_pixels"]["y1"].get<double>(), d["box_pixels"]["y2"].get<double>());
  }
  EXPECT_EQ(read_file(tmp / "det/overlay.png").substr(1, 3), "PNG");
  const Result show = run_cli("model show " + bundle.string());
  EXPECT_EQ(show.exit_code, 0);
  EXPECT_NE(show.out.find("RetinaNet"), std::string::npos);
  const Result missing = run_cli("detect " + (phantom_dataset() / "cases/phantom_000/image.nii.gz").string() +
                                 " --model " + (tmp / "nowhere").string() + " --out " + (tmp / "x").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no manifest.json"), std::string::npos) << missing.err;
}

// The README's main job: the shipped detector on the bundled example finds the example's
// bodies (truth from its label volume) on the slice it draws.
TEST(Cli, ShippedDetectorFindsTheBodiesOfTheBundledExample) {
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  TempDir tmp;
  const Result r = run_cli("detect " + (src / "examples/phantom_study.nii.gz").string() + " --out " + (tmp / "demo").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_file(tmp / "demo/detections.json"));
  const int slice = j["overlay_slice"];
  const auto labels = spinescan::to_canonical(spinescan::read_label_volume(src / "examples/phantom_study_vertebrae.nii.gz"));
  const auto truth_per_slice = spinescan::boxes_per_slice(labels, 100);
  const auto truth = truth_per_slice[static_cast<size_t>(slice)];
  ASSERT_GE(truth.size(), 5u);
  // Slices the detector left out lie past the column (detect/slice_schedule.h).
  ASSERT_TRUE(j["canonical"]["slices_not_examined"].is_array());
  for (const auto& k : j["canonical"]["slices_not_examined"])
    EXPECT_TRUE(truth_per_slice.at(k.get<size_t>()).empty()) << "slice " << k;
  int found = 0;
  for (const auto& t : truth) {
    double best = 0;
    for (const auto& d : j["detections"]) {
      if (d["slice"] != slice) continue;
      const auto& b = d["box_pixels"];
      best = std::max(best, spinescan::ops::iou(t.box, {b["x1"].get<double>(), b["y1"].get<double>(), b["x2"].get<double>(), b["y2"].get<double>()}));
    }
    found += best >= 0.5;
  }
  EXPECT_GE(found, static_cast<int>(truth.size()) - 1) << "of " << truth.size() << " bodies on slice " << slice;
}

TEST(Cli, LinkedBoxesAreReportedByDetectWhileVertebraeComeFromConfidentOnes) {
  // Slice linking (detect/slice_linking.h) adds uncertain boxes a neighbouring slice confirms
  // to what `detect` reports; `analyze` builds its vertebrae from the confident boxes alone, so
  // a bundle's linked score leaves every verdict as it was.
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  const std::string study = (src / "examples/phantom_study.nii.gz").string();
  TempDir tmp;
  std::filesystem::copy(src / "models/default", tmp / "low", std::filesystem::copy_options::recursive);
  ASSERT_EQ(run_cli("-q model add-detector " + (tmp / "low").string() + " --bundle " + (tmp / "low").string() + " --linked-score 0.05")
                .exit_code,
            0);
  EXPECT_EQ(read_file(tmp / "low/detector.pt"), read_file(src / "models/default/detector.pt"))
      << "re-packing a bundle's own detector leaves its weights file as it was";
  const auto low_manifest = nlohmann::json::parse(read_file(tmp / "low/manifest.json"));
  EXPECT_EQ(low_manifest["detector"]["linked_score"], 0.05);
  const double operating = low_manifest["detector"]["operating_score"];
  ASSERT_EQ(run_cli("-q detect " + study + " --out " + (tmp / "det").string()).exit_code, 0);
  ASSERT_EQ(run_cli("-q detect " + study + " --model " + (tmp / "low").string() + " --out " + (tmp / "det_low").string()).exit_code, 0);
  const auto shipped = nlohmann::json::parse(read_file(tmp / "det/detections.json"))["detections"];
  const auto low = nlohmann::json::parse(read_file(tmp / "det_low/detections.json"))["detections"];
  std::vector<nlohmann::json> confident, confident_low;
  int linked_low = 0;
  for (const auto& d : shipped)
    if (!d["linked"].get<bool>()) confident.push_back(d);
  for (const auto& d : low) {
    if (!d["linked"].get<bool>()) {
      confident_low.push_back(d);
      continue;
    }
    ++linked_low;
    EXPECT_GE(d["score"].get<double>(), 0.05) << d.dump();
    EXPECT_LT(d["score"].get<double>(), operating) << d.dump();
  }
  EXPECT_EQ(confident, confident_low) << "the boxes at the operating score do not depend on the linked score";
  EXPECT_GT(linked_low, 0) << "the example's lateral slices hold uncertain boxes a neighbour confirms";
  EXPECT_GT(low.size(), shipped.size());
  ASSERT_LE(run_cli("-q analyze " + study + " --out " + (tmp / "a").string()).exit_code, 1);
  ASSERT_LE(run_cli("-q analyze " + study + " --model " + (tmp / "low").string() + " --out " + (tmp / "a_low").string()).exit_code, 1);
  const auto report = nlohmann::json::parse(read_file(tmp / "a/report.json"));
  const auto report_low = nlohmann::json::parse(read_file(tmp / "a_low/report.json"));
  ASSERT_FALSE(report["vertebrae"].empty());
  EXPECT_EQ(report["vertebrae"], report_low["vertebrae"]);
}

TEST(Cli, AWronglyTypedBundleFieldIsOneLineAndExitOne) {
  // A manifest that parses but holds a field of the wrong type is a broken bundle (exit 1,
  // naming the section), not an internal error (exit 3).
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  TempDir tmp;
  std::filesystem::copy(src / "models/default", tmp / "bundle", std::filesystem::copy_options::recursive);
  auto manifest = nlohmann::json::parse(read_file(tmp / "bundle/manifest.json"));
  manifest["aggregator"]["threshold"] = "high";
  std::ofstream(tmp / "bundle/manifest.json") << manifest.dump(2);
  const Result r = run_cli("analyze " + (src / "examples/phantom_study.nii.gz").string() + " --model " +
                           (tmp / "bundle").string() + " --out " + (tmp / "report").string());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("aggregator manifest"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "report"));
}

TEST(Cli, AVersionOneBundleIsRefusedUntilUpgradedAndUpgradingKeepsItsLevelModel) {
  // Manifest version 1 kept the level model inside the aggregator section, where `train
  // aggregator` could put its one-feature rule. This spinescan refuses such a bundle with one
  // line naming the command that upgrades it; the upgrade moves a learnt level model to its
  // own section (so the bundle names levels exactly as before) and drops a rule.
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  const std::string study = (src / "examples/phantom_study.nii.gz").string();
  TempDir tmp;
  std::filesystem::copy(src / "models/default", tmp / "v1", std::filesystem::copy_options::recursive);
  const auto shipped = nlohmann::json::parse(read_file(src / "models/default/manifest.json"));
  ASSERT_EQ(shipped["version"], 2);
  auto v1 = shipped;
  v1.erase("version");
  v1["aggregator"]["levels"] = v1["levels"];
  v1.erase("levels");
  std::ofstream(tmp / "v1/manifest.json") << v1.dump(2);
  const Result refused = run_cli("analyze " + study + " --model " + (tmp / "v1").string() + " --out " + (tmp / "r1").string());
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("spinescan model upgrade " + (tmp / "v1").string()), std::string::npos) << refused.err;
  EXPECT_EQ(std::count(refused.err.begin(), refused.err.end(), '\n'), 1) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(tmp / "r1"));

  const Result upgraded = run_cli("model upgrade " + (tmp / "v1").string());
  ASSERT_EQ(upgraded.exit_code, 0) << upgraded.err;
  EXPECT_NE(upgraded.out.find("moved the level model"), std::string::npos) << upgraded.out;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "v1/manifest.json")), shipped);
  EXPECT_NE(run_cli("model upgrade " + (tmp / "v1").string()).out.find("already version 2"), std::string::npos);
  ASSERT_EQ(run_cli("-q analyze " + study + " --model " + (tmp / "v1").string() + " --out " + (tmp / "r2").string()).exit_code, 0);
  ASSERT_EQ(run_cli("-q analyze " + study + " --out " + (tmp / "r3").string()).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "r2/report.json"))["vertebrae"],
            nlohmann::json::parse(read_file(tmp / "r3/report.json"))["vertebrae"]);

  // A version 1 rule is dropped, and the upgrade says how to get a level model back.
  auto with_rule = v1;
  with_rule["aggregator"]["levels"] = {{"lowest_level", "L5"}, {"confidence", 0.8},
                                       {"rule", {{"alternative_level", "S1"}, {"cue", "score_mean"}, {"threshold", 0.7}}}};
  std::ofstream(tmp / "v1/manifest.json") << with_rule.dump(2);
  const Result dropped = run_cli("model upgrade " + (tmp / "v1").string());
  ASSERT_EQ(dropped.exit_code, 0) << dropped.err;
  EXPECT_NE(dropped.out.find("dropped the one-feature level rule (score_mean)"), std::string::npos) << dropped.out;
  const auto after = nlohmann::json::parse(read_file(tmp / "v1/manifest.json"));
  EXPECT_FALSE(after.contains("levels"));
  EXPECT_FALSE(after["aggregator"].contains("levels"));

  // A manifest from a newer spinescan is refused, by analyze and by upgrade, and left alone.
  auto newer = shipped;
  newer["version"] = 3;
  const std::string newer_text = newer.dump(2);
  std::ofstream(tmp / "v1/manifest.json") << newer_text;
  const Result too_new = run_cli("analyze " + study + " --model " + (tmp / "v1").string() + " --out " + (tmp / "r4").string());
  EXPECT_EQ(too_new.exit_code, 1) << too_new.err;
  EXPECT_NE(too_new.err.find("newer spinescan"), std::string::npos) << too_new.err;
  EXPECT_EQ(run_cli("model upgrade " + (tmp / "v1").string()).exit_code, 1);
  EXPECT_EQ(read_file(tmp / "v1/manifest.json"), newer_text);
}

namespace {

// Every regular file under `dir`, read whole.
std::string all_text_under(const std::filesystem::path& dir) {
  std::string text;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) text += read_file(e.path());
  return text;
}

}  // namespace

TEST(Cli, NoPatientIdentifierReachesTheOutputOfADicomStudy) {
  // The bundled example written as a DICOM series of a named patient, in a folder named after
  // her (as archives export them). Nothing identifying may appear in what analyze, detect or
  // info print or write (DICOM PS3.15 Annex E basic profile: names, IDs, dates, accession,
  // UIDs, descriptions; and the folder's name).
  const std::filesystem::path src(SPINESCAN_SOURCE_DIR);
  TempDir tmp;
  const auto volume = spinescan::read_volume(src / "examples/phantom_study.nii.gz");
  const spinescan::Volume<int16_t> v = spinescan::testing::rounded_to_int16(volume);
  spinescan::DicomSeriesOptions o;
  o.patient_name = "Doe^Jane";
  o.patient_id = "MRN493817";
  o.patient_birth_date = "19610704";
  o.accession_number = "ACC77812";
  o.series_description = "T2 SAG JANE DOE";
  o.study_uid = "1.2.826.0.1.3680043.10.543.1111111";
  o.series_uid = "1.2.826.0.1.3680043.10.543.2222222";
  const auto study = tmp / "Doe_Jane_MRN493817";
  spinescan::write_dicom_series(v, study, o);
  const std::vector<std::string> identifiers = {"Doe^Jane", "Doe_Jane", "Jane", "JANE", "MRN493817", "19610704", "ACC77812",
                                                "1.2.826.0.1.3680043.10.543", "2.25."};

  const Result analyzed = run_cli("analyze " + study.string() + " --out " + (tmp / "report").string());
  ASSERT_EQ(analyzed.exit_code, 0) << analyzed.err;
  const Result batch = run_cli("analyze " + study.string() + " " + study.string() + "/ --out " + (tmp / "batch").string());
  const Result detected = run_cli("detect " + study.string() + " --out " + (tmp / "detect").string());
  ASSERT_EQ(detected.exit_code, 0) << detected.err;
  const Result info = run_cli("info " + study.string());
  const Result info_json = run_cli("info --json " + study.string());
  ASSERT_EQ(info.exit_code, 0) << info.err;
  // Two series in one folder and none asked for: the error lists them without UIDs or descriptions.
  spinescan::DicomSeriesOptions second = o;
  second.series_uid = "1.2.826.0.1.3680043.10.543.3333333";
  write_dicom_series(v, tmp / "second", second);
  for (const auto& f : std::filesystem::directory_iterator(tmp / "second"))
    std::filesystem::copy(f.path(), study / ("b_" + f.path().filename().string()));
  const Result ambiguous = run_cli("analyze " + study.string() + " --out " + (tmp / "ambiguous").string());
  EXPECT_EQ(ambiguous.exit_code, 1) << ambiguous.err;
  EXPECT_NE(ambiguous.err.find("--series NUMBER"), std::string::npos) << ambiguous.err;
  const Result detect_ambiguous = run_cli("detect " + study.string() + " --out " + (tmp / "detect_ambiguous").string());
  const Result info_ambiguous = run_cli("info " + study.string());
  EXPECT_EQ(detect_ambiguous.exit_code, 1) << detect_ambiguous.err;
  EXPECT_EQ(info_ambiguous.exit_code, 1) << info_ambiguous.err;
  EXPECT_NE(info_ambiguous.err.find("the study: 2 DICOM series"), std::string::npos) << info_ambiguous.err;

  std::string everything = all_text_under(tmp / "report") + all_text_under(tmp / "detect");
  if (std::filesystem::exists(tmp / "batch")) everything += all_text_under(tmp / "batch");
  for (const Result* r : {&analyzed, &batch, &detected, &info, &info_json, &ambiguous, &detect_ambiguous, &info_ambiguous})
    everything += r->out + r->err;
  for (const auto& id : identifiers) EXPECT_EQ(everything.find(id), std::string::npos) << "'" << id << "' leaked";

  // By number, the ambiguous folder reads; with --keep-identifiers the description shows.
  const Result picked = run_cli("info " + study.string() + " --series 1 --keep-identifiers");
  EXPECT_EQ(picked.exit_code, 0) << picked.err;
  EXPECT_NE(picked.out.find("T2 SAG JANE DOE"), std::string::npos) << picked.out;
}
