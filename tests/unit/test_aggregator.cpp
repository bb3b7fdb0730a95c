// The per-vertebra stage: features of a track, the boosted trees, matching found vertebrae
// to the ground truth, end-to-end metrics with bootstrap intervals, and the report files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "spinescan/aggregate/booster.h"
#include "spinescan/aggregate/features.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/errors.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/pipeline/end_to_end.h"
#include "spinescan/pipeline/report.h"
#include "spinescan/pipeline/truth.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::aggregate;
using spinescan::testing::read_file;
using spinescan::testing::TempDir;

namespace {

size_t feature(const std::string& name) {
  const auto& names = vertebra_feature_names();
  const auto it = std::find(names.begin(), names.end(), name);
  EXPECT_NE(it, names.end()) << name;
  return static_cast<size_t>(it - names.begin());
}

// A volume of 8 slices with `n` bodies 20 px high and 30 px deep, 10 px discs, 1 mm pixels,
// 3 mm slices; body b has marrow brightness brightness[b].
Volume<float> column_volume(const std::vector<float>& brightness) {
  Volume<float> v;
  v.size = {80, static_cast<int64_t>(30 * brightness.size() + 20), 8};
  v.spacing_mm = {1, 1, 3};
  v.voxels.assign(static_cast<size_t>(v.num_voxels()), 0.1f);
  for (size_t b = 0; b < brightness.size(); ++b)
    for (int64_t k = 0; k < 8; ++k)
      for (int64_t y = 10 + 30 * b; y < 30 + 30 * static_cast<int64_t>(b); ++y)
        for (int64_t x = 20; x < 50; ++x) v.at(x, y, k) = brightness[b];
  return v;
}

std::vector<Track> column_tracks(size_t n, const std::vector<double>& p_max) {
  std::vector<Track> tracks(n);
  for (size_t b = 0; b < n; ++b)
    for (int k = 1; k <= 6; ++k)
      tracks[b].boxes.push_back({k, {20, 10.0 + 30 * b, 50, 30.0 + 30 * b}, 0.9, p_max.empty() ? -1 : p_max[b] * (k == 3 ? 1 : 0.5)});
  return tracks;
}

}  // namespace

TEST(VertebraFeatures, FocalSpotsAreSeenAndADiffuseShiftIsNot) {
  // Body 1 has a bright 6 mm spot on one slice, body 2 is brighter throughout, body 3 has a
  // dark spot; body 0 is plain marrow.
  auto v = column_volume({0.4f, 0.4f, 0.7f, 0.4f});
  for (int64_t y = 47; y < 53; ++y)
    for (int64_t x = 32; x < 38; ++x) v.at(x, y, 3) += 0.3f, v.at(x, y + 60, 4) -= 0.25f;
  const auto rows = vertebra_features(column_tracks(4, {}), v);
  ASSERT_EQ(rows.size(), 4u);
  for (size_t b : {0u, 2u}) {
    EXPECT_NEAR(rows[b][feature("focal_bright")], 0.0, 1e-6) << b;
    EXPECT_NEAR(rows[b][feature("focal_dark")], 0.0, 1e-6) << b;
  }
  // A 5 mm window fits inside the 6 mm spot: its full contrast, on the one slice it is on.
  EXPECT_NEAR(rows[1][feature("focal_bright")], 0.3, 1e-5);
  EXPECT_NEAR(rows[1][feature("focal_dark")], 0.0, 1e-6);
  EXPECT_NEAR(rows[3][feature("focal_dark")], 0.25, 1e-5);
  EXPECT_NEAR(rows[3][feature("focal_bright")], 0.0, 1e-6);
}

TEST(VertebraFeatures, AnAggregatorReadsItsOwnColumnsByName) {
  const auto& all = vertebra_feature_names();
  const std::vector<std::string> names = {"q_mean", "p_max", "slice_body_sd"};
  const auto columns = feature_columns(names);
  ASSERT_EQ(columns.size(), 3u);
  std::vector<double> row(all.size());
  for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<double>(i);
  const auto picked = select_columns(row, columns);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(all[static_cast<size_t>(picked[i])], names[i]);
  EXPECT_EQ(evidence_monotone_constraints(names), (std::vector<int>{1, 1, 0}));
  EXPECT_THROW(feature_columns({"p_max", "no_such_feature"}), ModelError);
}

TEST(VertebraFeatures, SummariseSlicesShapeNeighboursAndPosition) {
  const auto v = column_volume({0.4f, 0.4f, 0.8f, 0.4f});
  const auto rows = vertebra_features(column_tracks(4, {0.2, 0.3, 0.9, 0.1}), v);
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) ASSERT_EQ(r.size(), vertebra_feature_names().size());
  EXPECT_DOUBLE_EQ(rows[2][feature("p_max")], 0.9);
  EXPECT_DOUBLE_EQ(rows[2][feature("p_top2_mean")], (0.9 + 0.45) / 2);
  EXPECT_DOUBLE_EQ(rows[2][feature("p_max_above")], 0.3);
  EXPECT_DOUBLE_EQ(rows[2][feature("p_max_below")], 0.1);
  EXPECT_TRUE(std::isnan(rows[0][feature("p_max_above")]));  // no neighbour above the top one
  EXPECT_DOUBLE_EQ(rows[2][feature("height_mm")], 20.0);
  EXPECT_DOUBLE_EQ(rows[2][feature("depth_mm")], 30.0);
  EXPECT_DOUBLE_EQ(rows[2][feature("width_mm")], 18.0);  // 6 slices of 3 mm
  EXPECT_DOUBLE_EQ(rows[2][feature("height_vs_neighbours")], 1.0);
  // The bright body is twice as bright as its neighbours, relative to their mean.
  EXPECT_NEAR(rows[2][feature("signal_vs_neighbours")], 2.0, 0.05);
  EXPECT_NEAR(rows[1][feature("signal_vs_neighbours")], 0.4 / 0.6, 0.05);
  EXPECT_DOUBLE_EQ(rows[3][feature("position_from_bottom")], 0.0);
  EXPECT_DOUBLE_EQ(rows[0][feature("position_from_bottom")], 3.0);
  EXPECT_DOUBLE_EQ(rows[2][feature("p_evidence_offset")], 0.5 / 2.5);  // slice 3 of 1..6
  EXPECT_TRUE(std::isnan(rows[2][feature("q_max")]));  // no intensity model

  auto with_q = column_tracks(2, {0.2, 0.3});
  with_q[1].boxes[0].intensity_probability = 0.6;
  with_q[1].boxes[1].intensity_probability = 0.2;
  const auto q_rows = vertebra_features(with_q, column_volume({0.4f, 0.4f}));
  EXPECT_DOUBLE_EQ(q_rows[1][feature("q_max")], 0.6);
  EXPECT_DOUBLE_EQ(q_rows[1][feature("q_mean")], 0.4);
}

TEST(VertebraFeatures, EachBodyIsAlsoReadAgainstTheRestOfItsStudy) {
  // Body 2 stands out of a column whose marrow is otherwise even; in the second study every
  // body is as bright and as likely as it, so nothing stands out.
  const auto rows = vertebra_features(column_tracks(5, {0.2, 0.3, 0.9, 0.1, 0.4}), column_volume({0.4f, 0.4f, 0.8f, 0.4f, 0.4f}));
  ASSERT_EQ(rows.size(), 5u);
  // The other bodies' p_max are 0.2, 0.3, 0.1, 0.4: median 0.25.
  EXPECT_NEAR(rows[2][feature("p_max_vs_study")], 0.9 - 0.25, 1e-12);
  EXPECT_NEAR(rows[2][feature("p_mean_vs_study")], rows[2][feature("p_mean")] - (rows[0][feature("p_mean")] + rows[1][feature("p_mean")]) / 2,
              1e-12);  // the others' means sort as 3 < 0 < 1 < 4: the median is the mean of 0 and 1
  EXPECT_NEAR(rows[2][feature("signal_vs_study")], 2.0, 0.05);
  EXPECT_NEAR(rows[0][feature("signal_vs_study")], 1.0, 0.05);  // the bright body is one of four others
  EXPECT_LT(rows[0][feature("p_max_vs_study")], 0.0);

  const auto even = vertebra_features(column_tracks(4, {0.9, 0.9, 0.9, 0.9}), column_volume({0.8f, 0.8f, 0.8f, 0.8f}));
  for (const auto& r : even) {
    EXPECT_NEAR(r[feature("p_max_vs_study")], 0.0, 1e-12);
    EXPECT_NEAR(r[feature("signal_vs_study")], 1.0, 1e-6);
  }
  // With fewer than two other bodies there is no study to compare with.
  const auto pair = vertebra_features(column_tracks(2, {0.2, 0.9}), column_volume({0.4f, 0.8f}));
  for (const auto& r : pair)
    for (const char* name : {"p_max_vs_study", "p_mean_vs_study", "signal_vs_study"}) EXPECT_TRUE(std::isnan(r[feature(name)])) << name;
}

TEST(VertebraFeatures, WithoutAClassifierTheProbabilitiesAreMissing) {
  const auto rows = vertebra_features(column_tracks(3, {}), column_volume({0.4f, 0.4f, 0.4f}));
  for (const auto& r : rows) {
    EXPECT_TRUE(std::isnan(r[feature("p_max")]));
    EXPECT_TRUE(std::isnan(r[feature("p_mean")]));
    EXPECT_FALSE(std::isnan(r[feature("height_mm")]));
  }
  EXPECT_EQ(slice_evidence(column_tracks(1, {})[0]).max, -1);
}

TEST(Booster, LearnsARuleSavesLoadsAndRepeatsWithTheSameSeed) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 1);
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (int i = 0; i < 300; ++i) {
    const double a = noise(rng), b = noise(rng);
    // Missing values in a column the rule does not use must not hurt.
    x.push_back({a, b, i % 7 == 0 ? std::nan("") : noise(rng)});
    y.push_back(a + 0.5 * b > 0.2 ? 1 : 0);
  }
  BoosterParams p;
  p.rounds = 60;
  const Booster model = Booster::train(x, y, p);
  const auto pred = model.predict(x);
  EXPECT_GT(eval::roc_auc(pred, y), 0.97);
  for (double q : pred) EXPECT_TRUE(q >= 0 && q <= 1);

  TempDir tmp;
  model.save(tmp / "agg.json");
  EXPECT_NE(read_file(tmp / "agg.json").find("\"learner\""), std::string::npos);  // XGBoost's JSON format
  const auto again = Booster::load(tmp / "agg.json").predict(x);
  for (size_t i = 0; i < pred.size(); ++i) EXPECT_NEAR(again[i], pred[i], 1e-6);
  const auto same_seed = Booster::train(x, y, p).predict(x);
  for (size_t i = 0; i < pred.size(); ++i) EXPECT_EQ(same_seed[i], pred[i]);
  const auto gain = model.feature_gain(3);
  EXPECT_GT(gain[0], gain[2]);  // the rule's main feature carries more gain than noise
  EXPECT_THROW(Booster::load(tmp / "missing.json"), ModelError);
  EXPECT_THROW(Booster::train({{1.0}, {1.0, 2.0}}, {0, 1}, p), DataError);
  // A model file cut short: one line naming the file and XGBoost's reason, without XGBoost's
  // timestamp, source position and stack trace (which used to follow on nine more lines).
  spinescan::testing::write_file(tmp / "cut.json", read_file(tmp / "agg.json").substr(0, 300));
  try {
    (void)Booster::load(tmp / "cut.json");
    ADD_FAILURE() << "a cut model file loaded";
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("cut.json"), std::string::npos) << message;
    EXPECT_EQ(message.find("Stack trace"), std::string::npos) << message;
    EXPECT_EQ(message.find("json.cc"), std::string::npos) << message;
  }
}

TEST(Booster, MonotoneConstraintKeepsTheOutputRisingWithAFeature) {
  // The label is 1 only in the middle of x's range: free trees learn the bump, a +1
  // constraint on x must not let p fall anywhere as x rises.
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  for (int i = 0; i < 400; ++i) {
    const double v = i / 400.0;
    x.push_back({v, static_cast<double>(i % 5)});
    y.push_back(v > 0.4 && v < 0.7 ? 1 : 0);
  }
  BoosterParams p;
  p.rounds = 60;
  p.subsample = p.colsample = 1;
  std::vector<std::vector<double>> grid;
  for (int i = 0; i <= 100; ++i) grid.push_back({i / 100.0, 2});
  const auto free_p = Booster::train(x, y, p).predict(grid);
  EXPECT_GT(free_p[55], free_p[90] + 0.3) << "without the constraint the bump is learnt";
  p.monotone = {1, 0};
  const auto rising = Booster::train(x, y, p).predict(grid);
  for (size_t i = 1; i < rising.size(); ++i) EXPECT_GE(rising[i], rising[i - 1] - 1e-6) << "x = " << grid[i][0];
  EXPECT_EQ(BoosterParams::from_json(p.to_json()).monotone, p.monotone);
  p.monotone = {1};
  EXPECT_THROW(Booster::train(x, y, p), ConfigError);
  // The pipeline's constraints: only the probability columns, rising.
  const auto names = vertebra_feature_names();
  const auto m = evidence_monotone_constraints();
  ASSERT_EQ(m.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_EQ(m[i], names[i] == "p_max" || names[i] == "p_mean" || names[i] == "p_top2_mean" || names[i] == "q_max" ||
                            names[i] == "q_mean"
                        ? 1
                        : 0)
        << names[i];
}

TEST(Booster, WithinSourceWeightsKeepTheTreesOffABuiltInSiteConfound) {
  // Two sites with a built-in confound: site a's bodies are 90 % pathological, site b's 10 %,
  // and a column that only names the site (slice count, say: 40 against 15) predicts the label
  // better than the weak, real evidence column. Trained plainly, the trees flag most healthy
  // bodies of site a; weighted within source (what `train aggregator` does by default) the
  // site column predicts nothing and site a's healthy bodies are flagged at about the rate
  // site b's are. The shortcut measure is the one evaluate prints (healthy flag rate).
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0, 1);
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  std::vector<std::string> site;
  for (int i = 0; i < 800; ++i) {
    const bool a = i % 2 == 0;
    const int label = std::uniform_real_distribution<double>(0, 1)(rng) < (a ? 0.9 : 0.1) ? 1 : 0;
    x.push_back({(a ? 40.0 : 15.0) + noise(rng), 1.0 * label + noise(rng)});
    y.push_back(label);
    site.push_back(a ? "a" : "b");
  }
  BoosterParams p;
  p.rounds = 40;
  auto healthy_flag_rate = [&](const Booster& b, const std::string& which) {
    const auto q = b.predict(x);
    int n = 0, flagged = 0;
    for (size_t i = 0; i < q.size(); ++i)
      if (y[i] == 0 && site[i] == which) ++n, flagged += q[i] >= 0.5;
    return static_cast<double>(flagged) / n;
  };
  const Booster plain = Booster::train(x, y, p);
  const Booster weighted = Booster::train(x, y, p, classify::within_source_weights(y, site));
  EXPECT_GT(healthy_flag_rate(plain, "a"), 0.6) << "the confound is strong enough to be learnt";
  EXPECT_LT(healthy_flag_rate(weighted, "a"), 0.25);
  EXPECT_LT(healthy_flag_rate(weighted, "a") - healthy_flag_rate(weighted, "b"), 0.1);
  const auto gain = weighted.feature_gain(2);
  EXPECT_GT(gain[1], gain[0]) << "the evidence, not the site, carries the weighted trees";
}

TEST(Features, LevelCuesAreFeaturesAndNoPathologyEvidence) {
  const auto& names = vertebra_feature_names();
  const auto& cues = level_cue_feature_names();
  EXPECT_GE(cues.size(), 5u);
  for (const auto& cue : cues) {
    EXPECT_NE(std::find(names.begin(), names.end(), cue), names.end()) << cue;
    EXPECT_NE(cue.rfind("p_", 0), 0u) << cue;  // no classifier probability
    EXPECT_NE(cue.rfind("q_", 0), 0u) << cue;  // no intensity-model probability
    EXPECT_EQ(cue.find("position"), std::string::npos) << cue;
  }
}

TEST(TruthMatching, OneToOneByOverlapAndMissedBodiesCountAsMisses) {
  pipeline::CaseTruth truth;
  truth.boxes_per_slice.resize(8);
  for (int k = 1; k <= 6; ++k)
    for (int b = 0; b < 3; ++b) {
      BodyBox box;
      box.label = b + 1;
      box.box = {20, 10.0 + 30 * b, 50, 30.0 + 30 * b}, box.area_px = 600;
      truth.boxes_per_slice[static_cast<size_t>(k)].push_back(box);
    }
  truth.bodies = {{1, "L3", 0}, {2, "L4", 1}, {3, "L5", -1}};
  // Tracks over bodies 1 and 2 only, plus a stray track far away.
  auto tracks = column_tracks(2, {0.2, 0.9});
  Track stray;
  for (int k = 2; k <= 3; ++k) stray.boxes.push_back({k, {60, 200, 70, 210}, 0.4, 0.8});
  tracks.push_back(stray);
  const auto match = pipeline::match_tracks_to_truth(tracks, truth);
  EXPECT_EQ(match, (std::vector<int>{1, 2, 0}));

  pipeline::StudyAnalysis a;
  a.normalized = column_volume({0.4f, 0.4f, 0.4f});
  for (size_t i = 0; i < tracks.size(); ++i) {
    pipeline::VertebraFinding f;
    f.track = tracks[i];
    f.evidence = slice_evidence(tracks[i]);
    f.probability = f.evidence.max;
    f.level = std::vector<std::string>{"L3", "L5", "S1"}[i];
    a.vertebrae.push_back(f);
  }
  a.level_warnings = {spinescan::levels::LevelWarning::kCountTheVertebrae};
  const auto records = pipeline::vertebra_records(a, truth, "case_1");
  ASSERT_EQ(records.size(), 4u);  // 3 found (one stray) + 1 missed body
  EXPECT_EQ(records[1].truth_level, "L4");
  EXPECT_EQ(records[1].target, 1);
  EXPECT_EQ(records[2].truth_label, 0);
  EXPECT_FALSE(records[3].found);
  EXPECT_EQ(records[3].truth_label, 3);
  EXPECT_EQ(records[3].probability, 0);
  EXPECT_EQ(records[0].from_bottom, 2);
  const auto round_trip = pipeline::VertebraRecord::from_json(records[0].to_json());
  EXPECT_EQ(round_trip.features.size(), records[0].features.size());
  EXPECT_EQ(round_trip.truth_level, "L3");
  EXPECT_TRUE(round_trip.count_warned);
  for (const auto& r : records) EXPECT_TRUE(r.count_warned);  // the study's warning, on each of its records

  // Levels: L3 right, L4 named L5 wrong; the stray and the missed body are not counted.
  const auto levels = pipeline::level_accuracy(records);
  EXPECT_EQ(levels["n"], 2);
  EXPECT_DOUBLE_EQ(levels["accuracy"].get<double>(), 0.5);
  // The study is named wrong (L4 as L5) and was warned: the warning reached it.
  EXPECT_EQ(levels["count_warning"]["named_wrong"], 1);
  EXPECT_EQ(levels["count_warning"]["named_wrong_warned"], 1);
  EXPECT_EQ(levels["count_warning"]["named_right_warned"], 0);
  // A second study, named right and warned too: a false warning; a third, right and not warned.
  auto more = records;
  for (const char* name : {"case_2", "case_3"}) {
    pipeline::VertebraRecord r;
    r.case_name = name;
    r.found = true;
    r.truth_label = 1;
    r.truth_level = r.level = "L4";
    r.count_warned = std::string(name) == "case_2";
    more.push_back(r);
  }
  const auto both = pipeline::level_accuracy(more)["count_warning"];
  EXPECT_EQ(both["cases_warned"], 2);
  EXPECT_EQ(both["named_right_warned"], 1);
  EXPECT_EQ(both["named_wrong"], 1);
}

TEST(EndToEndMetrics, MissesAreFalseNegativesAndIntervalsHoldThePointEstimate) {
  std::vector<pipeline::VertebraRecord> records;
  std::vector<double> scores;
  for (int c = 0; c < 20; ++c)
    for (int v = 0; v < 5; ++v) {
      pipeline::VertebraRecord r;
      r.case_name = "case_" + std::to_string(c);
      r.target = v == 0 ? 1 : 0;
      r.found = !(c == 0 && v == 0);  // one pathological body missed: probability 0
      records.push_back(r);
      scores.push_back(!r.found ? 0.0 : r.target ? 0.9 : (v == 1 && c < 4 ? 0.7 : 0.1));
    }
  records.push_back({});  // unknown label: skipped
  records.back().case_name = "case_0";
  scores.push_back(0.99);
  const auto m = pipeline::vertebra_metrics(records, scores, 0.5, 300, 1);
  EXPECT_EQ(m["n"], 100);
  EXPECT_EQ(m["tp"], 19);
  EXPECT_EQ(m["fn"], 1);
  EXPECT_EQ(m["fp"], 4);
  for (const char* name : {"accuracy", "precision", "recall", "f1", "auc"}) {
    const double lo = m["ci95"][name][0], hi = m["ci95"][name][1], point = m[name];
    EXPECT_LE(lo, point + 1e-9) << name;
    EXPECT_GE(hi, point - 1e-9) << name;
    EXPECT_LE(lo, hi);
  }
  EXPECT_LT(m["ci95"]["recall"][0].get<double>(), 1.0);  // the missed body makes recall uncertain
}

TEST(EndToEndMetrics, HealthyFlagRateCountsFoundHealthyBodiesAtTheThreshold) {
  // The shortcut measure: of 8 found healthy bodies, 3 at or above 0.5; a missed healthy body,
  // a pathological one and an unknown one count in neither.
  std::vector<pipeline::VertebraRecord> records(11);
  std::vector<double> scores = {0.9, 0.5, 0.6, 0.1, 0.2, 0.3, 0.4, 0.49, 0.95, 0.99, 0.8};
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].found = true;
    records[i].target = 0;
  }
  records[8].found = false;
  records[9].target = 1;
  records[10].target = -1;
  const auto h = pipeline::healthy_flag_rate(records, scores, 0.5);
  EXPECT_EQ(h["n"], 8);
  EXPECT_EQ(h["flagged"], 3);
  EXPECT_DOUBLE_EQ(h["flag_rate"].get<double>(), 3.0 / 8);
  EXPECT_DOUBLE_EQ(h["median"].get<double>(), 0.49);  // nearest rank: the upper of the two middle values
}

TEST(EndToEndMetrics, ThresholdForAHealthyFlagRateHoldsTheRateInEverySource) {
  // Source spider: 4 healthy bodies; vb2: 5, one tied with the bound; a pathological body and a
  // missed healthy one count in neither.
  std::vector<pipeline::VertebraRecord> records;
  std::vector<double> scores;
  auto add = [&](const std::string& name, int target, bool found, double p) {
    pipeline::VertebraRecord r;
    r.case_name = name, r.target = target, r.found = found;
    records.push_back(r);
    scores.push_back(p);
  };
  for (double p : {0.1, 0.3, 0.6, 0.8}) add("spider_1", 0, true, p);
  for (double p : {0.2, 0.4, 0.7, 0.7, 0.9}) add("vb2_01", 0, true, p);
  add("spider_1", 1, true, 0.99);
  add("vb2_01", 0, false, 0.95);
  // At most a quarter: 1 of spider's 4 (0.8 may be flagged, 0.6 may not), 1 of vb2's 5 (0.9;
  // 0.7 may not, nor its tie): the higher of the two bounds, just above 0.7.
  const double t = pipeline::threshold_for_healthy_flag_rate(records, scores, 0.25);
  EXPECT_GT(t, 0.7);
  EXPECT_LT(t, 0.7 + 1e-9);
  for (const char* source : {"spider", "vb2"}) {
    std::vector<pipeline::VertebraRecord> rs;
    std::vector<double> ps;
    for (size_t i = 0; i < records.size(); ++i)
      if (records[i].case_name.rfind(source, 0) == 0) rs.push_back(records[i]), ps.push_back(scores[i]);
    EXPECT_LE(pipeline::healthy_flag_rate(rs, ps, t)["flag_rate"].get<double>(), 0.25) << source;
  }
  // Half: spider may flag 2 (bound above 0.3), vb2 2 (above 0.7, the tie again).
  EXPECT_GT(pipeline::threshold_for_healthy_flag_rate(records, scores, 0.5), 0.7);
  EXPECT_EQ(pipeline::threshold_for_healthy_flag_rate(records, scores, 1.0), 0.0);  // no bound
  EXPECT_EQ(pipeline::threshold_for_healthy_flag_rate({}, {}, 0.25), 0.0);
}

TEST(EndToEndMetrics, RecallByLesionGroupsPaintedBodiesByFindingFamilyAndSubtlety) {
  std::map<std::pair<std::string, int>, PaintedBody> lesions = {
      {{"a", 1}, {"metastasis", 'a', false}}, {{"a", 2}, {"metastasis", 'b', true}}, {{"b", 3}, {"fracture", 'b', false}}};
  std::vector<pipeline::VertebraRecord> records(4);
  const std::vector<double> scores = {0.9, 0.2, 0.7, 0.9};
  records[0].case_name = "a", records[0].truth_label = 1, records[0].found = true;
  records[1].case_name = "a", records[1].truth_label = 2, records[1].found = true;
  records[2].case_name = "b", records[2].truth_label = 3, records[2].found = false;  // missed: not flagged
  records[3].case_name = "b", records[3].truth_label = 4, records[3].found = true;   // not painted
  const auto r = pipeline::recall_by_lesion(records, scores, 0.5, lesions);
  EXPECT_EQ(r["metastasis"]["n"], 2);
  EXPECT_EQ(r["metastasis"]["flagged"], 1);
  EXPECT_EQ(r["fracture"]["flagged"], 0);
  EXPECT_EQ(r["subtle"]["n"], 1);
  EXPECT_EQ(r["not subtle"]["n"], 2);
  EXPECT_EQ(r["family b"]["n"], 2);
  EXPECT_DOUBLE_EQ(r["family a"]["recall"].get<double>(), 1.0);
}

// Five folds, each with its own aggregator and threshold: the pooled verdicts are the ones each
// run made, so the counts add up run by run, and the AUC still ranks the pooled probabilities.
TEST(EndToEndMetrics, PerRecordThresholdsCountEachRunsOwnVerdicts) {
  std::vector<pipeline::VertebraRecord> records;
  std::vector<double> scores, thresholds;
  auto add = [&](const std::string& name, int target, double p, double t) {
    pipeline::VertebraRecord r;
    r.case_name = name, r.target = target, r.found = true, r.truth_label = static_cast<int>(records.size()) + 1;
    records.push_back(r);
    scores.push_back(p);
    thresholds.push_back(t);
  };
  // Run A at 0.3: 0.4 flagged (healthy), 0.35 flagged (pathological). Run B at 0.7: 0.6 not
  // flagged (pathological), 0.65 not flagged (healthy), 0.8 flagged (pathological).
  add("spider_1", 0, 0.4, 0.3);
  add("spider_1", 1, 0.35, 0.3);
  add("spider_1", 0, 0.1, 0.3);
  add("vb2_01", 1, 0.6, 0.7);
  add("vb2_01", 0, 0.65, 0.7);
  add("vb2_01", 1, 0.8, 0.7);
  const auto per_run = pipeline::OperatingPoint::per_record(thresholds);
  const auto m = pipeline::vertebra_metrics(records, scores, per_run, 200, 1);
  EXPECT_EQ(m["tp"], 2);
  EXPECT_EQ(m["fn"], 1);
  EXPECT_EQ(m["fp"], 1);
  EXPECT_EQ(m["tn"], 2);
  EXPECT_EQ(m["threshold"], "per run");
  EXPECT_NEAR(m["auc"].get<double>(), pipeline::vertebra_metrics(records, scores, 0.5, 0)["auc"].get<double>(), 1e-12);
  // At one shared threshold of 0.5 the same bodies give other counts: the thresholds were used.
  EXPECT_EQ(pipeline::vertebra_metrics(records, scores, 0.5, 0)["fp"], 1);
  EXPECT_EQ(pipeline::vertebra_metrics(records, scores, 0.5, 0)["tp"], 2);
  EXPECT_EQ(pipeline::vertebra_metrics(records, scores, 0.5, 0)["fn"], 1);
  EXPECT_EQ(pipeline::vertebra_metrics(records, scores, 0.5, 0)["tn"], 2);
  EXPECT_EQ(pipeline::vertebra_metrics(records, scores, 0.2, 0)["fp"], 2);
  const auto h = pipeline::healthy_flag_rate(records, scores, per_run);
  EXPECT_EQ(h["flagged"], 1);  // 0.4 in run A; 0.65 is below run B's 0.7
  EXPECT_EQ(h["threshold"], "per run");
  EXPECT_EQ(pipeline::healthy_flag_rate(records, scores, 0.38)["flagged"], 2);
  // A subset keeps each record's own threshold: run B's three bodies judged at 0.7.
  const auto b = per_run.subset({3, 4, 5});
  EXPECT_DOUBLE_EQ(b.at(0), 0.7);
  const std::vector<pipeline::VertebraRecord> rb(records.begin() + 3, records.end());
  const std::vector<double> sb(scores.begin() + 3, scores.end());
  EXPECT_EQ(pipeline::vertebra_metrics(rb, sb, b, 0)["tp"], 1);
  std::map<std::pair<std::string, int>, PaintedBody> lesions = {{{"spider_1", 2}, {"metastasis", 'a', false}},
                                                                {{"vb2_01", 4}, {"metastasis", 'b', false}}};
  EXPECT_EQ(pipeline::recall_by_lesion(records, scores, per_run, lesions)["metastasis"]["flagged"], 1);
  EXPECT_EQ(pipeline::recall_by_lesion(records, scores, 0.3, lesions)["metastasis"]["flagged"], 2);
}

TEST(EndToEndMetrics, CalibrationBinsFoundBodiesOfKnownLabel) {
  // Bin [0.2, 0.3): two bodies at 0.2, one pathological (observed 0.5, |0.5-0.2| = 0.3);
  // bin [0.9, 1.0]: two at 0.9, both pathological (|1-0.9| = 0.1). A missed body and an
  // unknown label stay out. ECE = (2*0.3 + 2*0.1) / 4.
  std::vector<pipeline::VertebraRecord> records(6);
  const std::vector<double> scores = {0.2, 0.2, 0.9, 0.9, 0.0, 0.5};
  const std::vector<int> targets = {0, 1, 1, 1, 1, -1};
  for (size_t i = 0; i < records.size(); ++i) records[i].found = true, records[i].target = targets[i];
  records[4].found = false;
  const auto c = pipeline::calibration_json(pipeline::calibration_bins(records, scores));
  EXPECT_EQ(c["n"], 4);
  EXPECT_NEAR(c["ece"].get<double>(), 0.2, 1e-12);
  ASSERT_EQ(c["bins"].size(), 10u);
  EXPECT_EQ(c["bins"][2]["count"], 2);
  EXPECT_DOUBLE_EQ(c["bins"][2]["observed"].get<double>(), 0.5);
  EXPECT_EQ(c["bins"][9]["count"], 2);
  // Beside it, what a calibrated model would score on these four bodies.
  EXPECT_GT(c["ece_if_calibrated"]["median"].get<double>(), 0);
  EXPECT_GE(c["ece_if_calibrated"]["p95"].get<double>(), c["ece_if_calibrated"]["median"].get<double>());
}

TEST(Report, Base64MatchesTheStandardVectors) {
  auto b64 = [](const std::string& s) { return pipeline::base64(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
}

TEST(Report, WritesJsonHtmlAndOverlaysAndRefusesAForeignFolder) {
  pipeline::StudyAnalysis a;
  a.normalized = column_volume({0.4f, 0.9f, 0.4f});
  a.info.format = "NIfTI";
  a.threshold = 0.5;
  a.probability_source = "aggregator";
  const auto tracks = column_tracks(3, {0.1, 0.8, 0.2});
  for (size_t i = 0; i < 3; ++i) {
    pipeline::VertebraFinding f;
    f.track = tracks[i];
    f.evidence = slice_evidence(tracks[i]);
    f.probability = std::vector<double>{0.1, 0.8, 0.2}[i];
    f.pathological = f.probability >= 0.5;
    f.level = std::vector<std::string>{"L3", "L4", "L5"}[i];
    f.level_confidence = 0.9;
    a.vertebrae.push_back(f);
  }
  a.warnings.push_back("a <test> warning");
  TempDir tmp;
  const auto out = tmp / "report";
  pipeline::write_report(out, a, {{"name", "test model"}, {"version", "0"}, {"revision", "abc"}});
  const auto j = nlohmann::json::parse(read_file(out / "report.json"));
  ASSERT_EQ(j["vertebrae"].size(), 3u);
  EXPECT_EQ(j["vertebrae"][1]["level"], "L4");
  EXPECT_EQ(j["vertebrae"][1]["pathological"], true);
  EXPECT_EQ(j["report_format"], 2);
  EXPECT_EQ(j["vertebrae"][1]["box_voxels"]["z1"], 1);
  EXPECT_EQ(j["vertebrae"][1]["box_voxels"]["z2"], 7);
  EXPECT_DOUBLE_EQ(j["vertebrae"][1]["box_mm"]["z2"].get<double>(), 21.0);
  EXPECT_EQ(j["summary"]["num_pathological"], 1);
  EXPECT_EQ(j["model"]["name"], "test model");
  const std::string html = read_file(out / "report.html");
  for (const char* s : {"L4 0.80", "data:image/png;base64,", "flagged", "not a diagnosis", "a &lt;test&gt; warning"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  // The key slices: the one crossing most bodies, then the flagged body's evidence slice.
  EXPECT_EQ(pipeline::key_slices(a), (std::vector<int>{4, 3}));
  EXPECT_TRUE(std::filesystem::exists(out / "overlays/slice_3.png"));
  // A re-run replaces the previous report; a folder holding something else is refused.
  pipeline::write_report(out, a, {});
  std::filesystem::create_directories(tmp / "other");
  std::ofstream(tmp / "other" / "notes.txt") << "mine";
  EXPECT_THROW(pipeline::write_report(tmp / "other", a, {}), ConfigError);
  EXPECT_TRUE(std::filesystem::exists(tmp / "other" / "notes.txt"));
}
