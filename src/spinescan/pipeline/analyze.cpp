#include "spinescan/pipeline/analyze.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <cmath>

#include "spinescan/aggregate/booster.h"
#include "spinescan/aggregate/ood.h"
#include "spinescan/classify/baseline.h"
#include "spinescan/classify/classifier.h"
#include "spinescan/classify/samples.h"
#include "spinescan/core/errors.h"
#include "spinescan/core/manifest.h"
#include "spinescan/core/safe_name.h"
#include "spinescan/core/version.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/evaluate.h"
#include "spinescan/detect/inference.h"
#include "spinescan/levels/decision.h"
#include "spinescan/levels/level_net.h"

namespace spinescan::pipeline {

namespace fs = std::filesystem;

nlohmann::json AggregatorSpec::to_json() const {
  return {{"model_file", model_file},
          {"features", features},
          {"threshold", threshold},
          // The manifest keys keep the names bundles were written with (no units); renaming
          // them needs a manifest version bump.
          {"link", {{"min_iou", link.min_iou}, {"max_gap", link.max_gap_slices}, {"min_slices", link.min_slices}, {"merge_distance", link.merge_distance_body_heights},
                    {"min_length_fraction", link.min_length_fraction}, {"midline_margin", link.midline_margin_slices},
                    {"duplicate_iou", link.duplicate_iou}}},
          {"intensity_model", intensity_model},
          {"provenance", provenance}};
}

AggregatorSpec AggregatorSpec::from_json(const nlohmann::json& j) {
  try {
    // What `train aggregator` writes is required: a missing field is an error naming it, never
    // a default the bundle did not choose. The intensity model is optional. A version 1
    // aggregator's "levels" is not read: the level model has a section of its own.
    AggregatorSpec s;
    s.model_file = j.at("model_file").get<std::string>();
    s.features = j.at("features").get<std::vector<std::string>>();
    s.threshold = j.at("threshold").get<double>();
    const nlohmann::json& link = j.at("link");
    s.link.min_iou = link.at("min_iou").get<double>();
    s.link.max_gap_slices = link.at("max_gap").get<int>();
    s.link.min_slices = link.at("min_slices").get<int>();
    s.link.merge_distance_body_heights = link.at("merge_distance").get<double>();
    s.link.min_length_fraction = link.at("min_length_fraction").get<double>();
    s.link.midline_margin_slices = link.at("midline_margin").get<int>();
    s.link.duplicate_iou = link.at("duplicate_iou").get<double>();
    s.intensity_model = j.value("intensity_model", nlohmann::json());
    s.provenance = j.value("provenance", nlohmann::json::object());
    // The booster's file is read from, and written into, the bundle folder by this name.
    SPINESCAN_CHECK_AS(is_safe_name(s.model_file), ModelError, "aggregator manifest: model_file '", s.model_file,
                       "' is no plain file name ([A-Za-z0-9._-], not . or ..)");
    SPINESCAN_CHECK_AS(s.threshold > 0 && s.threshold < 1, ModelError, "aggregator manifest: threshold ", s.threshold,
                       " is not in (0, 1)");
    const aggregate::LinkOptions& l = s.link;
    SPINESCAN_CHECK_AS(l.min_iou >= 0 && l.min_iou <= 1 && l.duplicate_iou >= 0 && l.duplicate_iou <= 1 && l.max_gap_slices >= 0 &&
                           l.max_gap_slices <= 64 && l.min_slices >= 1 && l.merge_distance_body_heights >= 0 && l.merge_distance_body_heights <= 10 &&
                           l.min_length_fraction >= 0 && l.min_length_fraction <= 1 && l.midline_margin_slices >= 0,
                       ModelError, "aggregator manifest: link options out of range (", j.value("link", nlohmann::json()).dump(), ")");
    return s;
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong type: the bundle is broken, and the message names the field.
    throw ModelError(std::string("aggregator manifest: ") + e.what());
  }
}

void check_bundle_manifest(const nlohmann::json& manifest, const std::string& folder) {
  SPINESCAN_CHECK_AS(manifest.is_object(), ModelError, "manifest.json holds ", manifest.type_name(), ", not an object");
  check_manifest_version(manifest, folder);
  const auto file_name = [&](const char* section, const nlohmann::json& holder, const char* fallback) {
    const nlohmann::json name = holder.is_object() && holder.contains("weights") ? holder["weights"] : nlohmann::json(fallback);
    SPINESCAN_CHECK_AS(name.is_string() && is_safe_name(name.get<std::string>()), ModelError, "manifest.json: ", section,
                       " weights '", name.dump(), "' is no plain file name in the bundle ([A-Za-z0-9._-], not . or ..)");
  };
  for (const char* section : {"detector", "classifier", "aggregator", "levels", "ood"})
    if (manifest.contains(section))
      SPINESCAN_CHECK_AS(manifest[section].is_object(), ModelError, "manifest.json: section '", section, "' holds ",
                         manifest[section].type_name(), ", not an object");
  if (manifest.contains("detector")) {
    detect::DetectorSpec::from_json(manifest["detector"]);
    file_name("detector", manifest["detector"], "detector.pt");
  }
  if (manifest.contains("classifier")) {
    classify::ClassifierSpec::from_json(manifest["classifier"]);
    file_name("classifier", manifest["classifier"], "classifier.pt");
  }
  if (manifest.contains("aggregator")) {
    AggregatorSpec::from_json(manifest["aggregator"]);
    // The parts the spec copies are checked in place, so that an error's path starts at the root.
    const nlohmann::json::json_pointer intensity_at("/aggregator/intensity_model");
    if (manifest.contains(intensity_at) && manifest.at(intensity_at).is_object())
      classify::LogisticRegression::from_json(manifest.at(intensity_at));
  }
  if (manifest.contains("levels")) {
    bundle_level_model(manifest);
    const nlohmann::json::json_pointer net_at("/levels/head/level_net");
    if (manifest.contains(net_at)) {
      const nlohmann::json& net = manifest.at(net_at);
      SPINESCAN_CHECK_AS(net.is_object() && net.contains("weights") && net.contains("spec"), ModelError,
                         "manifest.json: the level model's level_net section needs weights and spec");
      file_name("level net", net, "");
      levels::LevelNet::check_spec(net["spec"]);
    }
  }
  if (manifest.contains("ood")) {
    aggregate::OodReference::from_json(manifest["ood"]);
    if (manifest["ood"].contains("classifier_embedding")) {
      const auto embedding = aggregate::EmbeddingOodReference::from_json(manifest["ood"]["classifier_embedding"]);
      SPINESCAN_CHECK_AS(embedding.fitted_with(manifest), ModelError, "manifest.json: the out-of-distribution reference was fitted with another classifier than the "
                         "bundle's; refit it (spinescan train ood, then model add-ood)");
    }
  }
}

std::optional<aggregate::LevelModel> bundle_level_model(const nlohmann::json& manifest) {
  if (!manifest.is_object() || !manifest.contains("levels")) return std::nullopt;
  try {
    return aggregate::LevelModel::from_json(manifest["levels"]);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("levels manifest: ") + e.what());
  } catch (const ModelError& e) {
    throw ModelError(std::string("levels manifest: ") + e.what());
  }
}

namespace {

// upgrade_manifest, whose JSON errors (a field of the wrong type) it turns into ModelError.
ManifestUpgrade upgrade_manifest_unchecked(const nlohmann::json& manifest) {
  SPINESCAN_CHECK_AS(manifest.is_object(), ModelError, "manifest.json holds ", manifest.type_name(), ", not an object");
  const int version = manifest_version(manifest);
  SPINESCAN_CHECK_AS(version <= kManifestVersion, ModelError, "manifest.json is version ", version,
                     ": made by a newer spinescan, which this one cannot upgrade");
  ManifestUpgrade up{manifest, {}};
  if (version == kManifestVersion) return up;
  nlohmann::json& m = up.manifest;
  if (m.contains("aggregator") && m["aggregator"].is_object()) {
    nlohmann::json& aggregator = m["aggregator"];
    if (aggregator.contains("levels")) {
      const nlohmann::json old = aggregator["levels"];
      aggregator.erase("levels");
      if (m.contains("levels")) {
        up.changes.push_back("dropped the aggregator's level model: the bundle's own \"levels\" section stays");
      } else if (old.is_object() && old.contains("rule")) {
        up.changes.push_back("dropped the one-feature level rule (" + old["rule"].value("cue", std::string("?")) +
                             "): until `spinescan train levels` and `spinescan model add-levels` give the bundle a level model, "
                             "levels are counted up from L5 with confidence 0.5");
      } else {
        m["levels"] = old;
        bundle_level_model(m);  // what goes in must read as a level model
        up.changes.push_back(std::string("moved the level model (") + (old.contains("head") ? "a learnt head" : "no alternative level") +
                             ") from the aggregator into its own \"levels\" section");
      }
    }
    for (const char* set : {"heldout_fold", "all_folds"}) {
      nlohmann::json* p = aggregator.contains("provenance") && aggregator["provenance"].is_object() &&
                                  aggregator["provenance"].contains(set) && aggregator["provenance"][set].is_object()
                              ? &aggregator["provenance"][set]
                              : nullptr;
      if (p && p->contains("levels")) {
        p->erase("levels");
        up.changes.push_back(std::string("dropped the aggregator's provenance level accuracy (") + set +
                             "): it measured the aggregator run's own level model, not the bundle's");
      }
    }
  }
  m["version"] = kManifestVersion;
  up.changes.push_back("version " + std::to_string(version) + " -> " + std::to_string(kManifestVersion));
  return up;
}

}  // namespace

ManifestUpgrade upgrade_manifest(const nlohmann::json& manifest) {
  try {
    return upgrade_manifest_unchecked(manifest);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("manifest.json: cannot upgrade: ") + e.what());
  }
}

struct Analyzer::Impl {
  AnalyzerOptions options;
  fs::path bundle;
  nlohmann::json manifest;
  torch::Device device = torch::kCPU;
  detect::LoadedDetector detector;
  std::optional<classify::LoadedClassifier> classifier;
  std::optional<AggregatorSpec> aggregator_spec;
  aggregate::Booster aggregator;
  std::vector<size_t> aggregator_columns;  // its features' places in vertebra_feature_names()
  std::optional<classify::LogisticRegression> intensity;
  std::optional<aggregate::LevelModel> level_model;  // the bundle's "levels" section
  levels::LevelNet level_net;  // empty unless the level model has one
  aggregate::OodReference ood;  // empty unless the bundle has one
  aggregate::EmbeddingOodReference embedding_ood;  // on the classifier's own features; empty unless the bundle has one
};

Analyzer::Analyzer(const fs::path& bundle, const AnalyzerOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->bundle = resolve_bundle_folder(bundle);
  impl_->manifest = read_manifest(impl_->bundle);
  // Every section is checked before any weights are read: a broken bundle is one error, and
  // nothing is half loaded. The version message names the bundle's own folder.
  check_bundle_manifest(impl_->manifest, impl_->bundle.string());
  impl_->device = detect::parse_device(options.device);
  impl_->detector = detect::load_detector(options.detector.empty() ? impl_->bundle : options.detector, impl_->device);
  if (!options.classifier.empty())
    impl_->classifier = classify::load_classifier(options.classifier, impl_->device);
  else if (impl_->manifest.contains("classifier"))
    impl_->classifier = classify::load_classifier(impl_->bundle, impl_->device);
  if (impl_->manifest.contains("aggregator")) {
    AggregatorSpec spec = AggregatorSpec::from_json(impl_->manifest["aggregator"]);
    if (options.use_aggregator && impl_->classifier) {
      try {
        impl_->aggregator_columns = aggregate::feature_columns(spec.features);
      } catch (const ModelError& e) {
        throw ModelError(impl_->bundle.string() + ": the aggregator was trained on a " + e.what() +
                         "; retrain it (spinescan train aggregator)");
      }
      impl_->aggregator = aggregate::Booster::load(impl_->bundle / spec.model_file);
    }
    impl_->aggregator_spec = spec;
  }
  impl_->level_model = bundle_level_model(impl_->manifest);
  if (impl_->level_model && !impl_->level_model->level_net.is_null()) {
    const nlohmann::json& net = impl_->level_model->level_net;  // its fields were checked with the manifest
    impl_->level_net = levels::LevelNet::load(impl_->bundle / net["weights"].get<std::string>(), net["spec"]);
  }
  const nlohmann::json& intensity = !options.intensity_model.is_null() ? options.intensity_model
                                    : impl_->aggregator_spec                ? impl_->aggregator_spec->intensity_model
                                                                            : options.intensity_model;
  if (intensity.is_object()) impl_->intensity = classify::LogisticRegression::from_json(intensity);
  if (impl_->manifest.contains("ood")) {
    impl_->ood = aggregate::OodReference::from_json(impl_->manifest["ood"]);
    // Only for the classifier it was fitted with (checked above): not for one swapped in by
    // --classifier (out-of-fold predictions while training the aggregator).
    if (impl_->manifest["ood"].contains("classifier_embedding") && options.classifier.empty())
      impl_->embedding_ood = aggregate::EmbeddingOodReference::from_json(impl_->manifest["ood"]["classifier_embedding"]);
  }
}

Analyzer::~Analyzer() = default;

bool Analyzer::has_classifier() const { return impl_->classifier.has_value(); }
bool Analyzer::has_aggregator() const { return !impl_->aggregator.empty(); }

std::vector<std::string> Analyzer::int8_calibration_cases_not_evaluated(const std::vector<std::string>& evaluated) const {
  return detect::int8_calibration_cases_not_evaluated(impl_->detector, evaluated);
}

nlohmann::json Analyzer::model_description() const {
  const auto& m = impl_->manifest;
  nlohmann::json stages = nlohmann::json::array();
  for (const char* s : {"detector", "classifier", "aggregator"})
    if (m.contains(s)) stages.push_back(s);
  return {{"name", m.value("name", impl_->bundle.filename().string())},
          {"bundle", impl_->bundle.string()},
          {"version", version()},
          {"revision", git_revision()},
          {"stages", stages},
          // The same study gives slightly different boxes and probabilities in bfloat16 or 8 bits.
          {"detector_precision", impl_->detector.net->precision_name()},
          {"classifier", impl_->classifier ? impl_->classifier->spec.preset : "none"},
          {"aggregator", has_aggregator() ? "XGBoost (boosted trees)" : "none"},
          {"threshold", has_aggregator() ? impl_->aggregator_spec->threshold : impl_->classifier ? impl_->classifier->spec.threshold : 0.5},
          {"classifier_threshold", impl_->classifier ? impl_->classifier->spec.threshold : 0.5},
          {"limits", m.value("limits", std::string("Read the model card (docs/model_card.md) for what the model was trained on and where it fails."))}};
}

namespace {
// Whether a box is one the models judge: the classifier and the intensity model were trained
// only on slices where the body's area is at least a share of its largest sagittal area
// (classify/samples.h: far lateral slivers show pedicle and partial volume), so a sliver's
// probability is outside what they learnt and must not become a body's strongest evidence.
// (SPIDER's volumes are cut close to the bodies: there every box is judged.)
bool judged_box(const aggregate::Track& track, const aggregate::TrackedBox& box, double spacing_x, double spacing_y) {
  const classify::SampleOptions rule;
  const double area_px = box.box.area();
  return area_px >= rule.min_area_fraction * track.largest().box.area() && area_px * spacing_x * spacing_y >= rule.min_area_mm2;
}

// Classifier probability of every judged box of every track, one batch for the whole study.
void classify_boxes(classify::LoadedClassifier& c, const Volume<float>& normalized, std::vector<aggregate::Track>& tracks,
                    const torch::Device& device) {
  std::vector<std::vector<float>> crops;
  std::vector<aggregate::TrackedBox*> judged;
  for (auto& t : tracks)
    for (auto& b : t.boxes)
      if (judged_box(t, b, normalized.spacing_mm[0], normalized.spacing_mm[1])) {
        crops.push_back(classify::extract_crop(normalized, b.slice, b.box, c.spec.crop));
        judged.push_back(&b);
      }
  if (crops.empty()) return;
  auto outputs = classify::classifier_outputs(c.net, crops, c.spec.crop, device);
  for (size_t i = 0; i < judged.size(); ++i) {
    judged[i]->probability = c.spec.probability(outputs.logits[i]);
    judged[i]->embedding = std::move(outputs.embeddings[i]);
  }
}
}  // namespace

StudyAnalysis Analyzer::analyze(const LoadedStudy& study) {
  Impl& s = *impl_;
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  auto t0 = Clock::now();
  StudyAnalysis out;
  out.refusal = refusal_before_detection(study.info, study.canonical);
  out.timing_ms.emplace_back("fitness_checks", since(t0));
  if (!out.refusal.empty()) {
    out.info = study.info;
    out.probability_source = "none";
    return out;
  }
  t0 = Clock::now();
  const aggregate::LinkOptions link = s.aggregator_spec ? s.aggregator_spec->link : aggregate::LinkOptions{};
  detect::StudyDetections d = detect::detect_loaded_study(s.detector, study, s.options.device, link.max_gap_slices + 1);
  out.timing_ms.emplace_back("detect", since(t0));
  t0 = Clock::now();
  out.info = d.info;
  out.normalized = std::move(d.normalized);
  out.operating_score = d.operating_score;
  out.detections = std::move(d.detections);
  out.slices_not_examined = std::move(d.slices_not_examined);

  std::vector<aggregate::TrackedBox> boxes;
  // The vertebrae are built from the boxes at the operating score only: the stages after the
  // detector were trained on those, and the linked lateral boxes joined one case's neighbouring
  // bodies into an overlap the column check refuses (docs/model_card.md, "Slice linking").
  for (const auto& b : out.detections)
    if (!b.linked) boxes.push_back({b.slice, b.box, b.score, -1, -1, {}, {}});
  std::vector<aggregate::Track> tracks = aggregate::link_tracks(std::move(boxes), link);
  out.column = column_geometry(tracks, out.normalized.spacing_mm);
  out.refusal = refusal_after_detection(out.column);
  out.timing_ms.emplace_back("link", since(t0));
  if (!out.refusal.empty()) {
    out.probability_source = "none";
    return out;
  }
  t0 = Clock::now();
  if (s.classifier) classify_boxes(*s.classifier, out.normalized, tracks, s.device);
  out.timing_ms.emplace_back("classify", since(t0));
  t0 = Clock::now();
  if (s.intensity)
    for (auto& t : tracks)
      for (auto& b : t.boxes)
        if (judged_box(t, b, out.normalized.spacing_mm[0], out.normalized.spacing_mm[1])) {
          b.intensity_features = classify::intensity_features(out.normalized, b.slice, b.box);
          b.intensity_probability = s.intensity->predict(b.intensity_features);
        }
  out.timing_ms.emplace_back("intensity_model", since(t0));
  t0 = Clock::now();

  const auto features = aggregate::vertebra_features(tracks, out.normalized);
  // The level decision (levels/decision.h) from what this study shows of its lowest body.
  const aggregate::LevelModel level_model = s.level_model ? *s.level_model : aggregate::LevelModel{};
  levels::LevelEvidence level_evidence;
  level_evidence.rows = static_cast<int>(out.normalized.size[1]);
  level_evidence.row_mm = out.normalized.spacing_mm[1];
  level_evidence.overlapping_upper = pair_in_doubt(out.column);
  level_evidence.overlap_fraction = out.column.max_overlap_fraction;
  if (!features.empty()) {
    if (!s.level_net.empty()) {
      level_evidence.net_logit = s.level_net.read_lowest(out.normalized, tracks).logit();
      level_evidence.net_ceiling = s.level_net.ceiling();
      level_evidence.net_indecisive = s.level_net.indecisive(level_evidence.net_logit);
    }
    level_evidence.lowest =
        aggregate::lowest_body_cues(aggregate::vertebra_feature_names(), features.back(), level_evidence.net_logit);
  }
  const levels::LevelDecision level_decision = levels::decide_levels(tracks, level_model, level_evidence);
  for (auto& line : level_decision.messages()) out.warnings.push_back(std::move(line));
  out.level_warnings = level_decision.warnings;
  if (!s.level_model && !tracks.empty())
    out.warnings.push_back("the model bundle has no level model: the names are counted up from L5 unchecked (confidence 0.5); "
                           "`spinescan train levels` and `spinescan model add-levels` give it one");

  std::vector<aggregate::SliceEvidence> evidence;
  for (const auto& t : tracks) evidence.push_back(aggregate::slice_evidence(t));
  std::vector<double> probabilities(tracks.size(), -1.0);
  if (has_aggregator()) {
    out.probability_source = "aggregator";
    out.threshold = s.aggregator_spec->threshold;
    if (!features.empty()) {
      std::vector<std::vector<double>> rows;
      for (const auto& f : features) rows.push_back(aggregate::select_columns(f, s.aggregator_columns));
      probabilities = s.aggregator.predict(rows);
    }
  } else if (s.classifier) {
    out.probability_source = "classifier (max over slices)";
    out.threshold = s.classifier->spec.threshold;
    for (size_t i = 0; i < tracks.size(); ++i) probabilities[i] = evidence[i].max;
  } else {
    out.probability_source = "none";
    out.warnings.push_back("the model bundle has no classifier: vertebrae are found and named, not classified");
  }

  // A study unlike the training ones: its bodies are found and named, none is judged.
  if (!s.ood.empty()) {
    out.ood_score = s.ood.score(aggregate::vertebra_feature_names(), features);
    out.ood_threshold = s.ood.threshold;
    char line[300] = "";
    if (std::isfinite(out.ood_score) && out.ood_score > s.ood.threshold)
      std::snprintf(line, sizeof line,
                    "no verdicts: this study looks unlike the studies the model was trained on (out-of-distribution score %.2f, "
                    "above %.2f; the bodies' size, signal and detector confidence), so its probabilities would mean nothing",
                    out.ood_score, s.ood.threshold);
    if (!s.embedding_ood.empty()) {
      const size_t dims = s.embedding_ood.reference.features.size();
      std::vector<std::vector<double>> rows;
      for (const auto& t : tracks) rows.push_back(aggregate::vertebra_embedding(t, dims));
      out.ood_embedding_score = s.embedding_ood.reference.score(s.embedding_ood.reference.features, rows);
      out.ood_embedding_threshold = s.embedding_ood.reference.threshold;
      if (!line[0] && std::isfinite(out.ood_embedding_score) && out.ood_embedding_score > out.ood_embedding_threshold)
        std::snprintf(line, sizeof line,
                      "no verdicts: the classifier sees these bodies unlike the ones it was trained on (out-of-distribution "
                      "score of its features %.2f, above %.2f), so its probabilities would mean nothing",
                      out.ood_embedding_score, out.ood_embedding_threshold);
    }
    if (line[0]) {
      out.verdicts_withheld = true;
      std::fill(probabilities.begin(), probabilities.end(), -1.0);
      out.warnings.push_back(line);
    }
  }
  out.timing_ms.emplace_back("features_aggregate_levels", since(t0));
  // The body below the lowest level the training data labelled (S1 under L5 on SPIDER, where
  // the sacrum is not a labelled body) is named but not judged: neither the classifier nor the
  // aggregator saw one in training, so a probability there would be a number without meaning.
  // The decision leaves it judged when the lowest body's level is in doubt.
  const std::string& unlabelled_below = level_decision.unjudged_level;
  bool unjudged = false;
  for (size_t i = 0; i < tracks.size(); ++i) {
    VertebraFinding f;
    f.evidence = evidence[i];
    f.track = std::move(tracks[i]);
    f.level = level_decision.names[i];
    f.level_confidence = level_decision.confidences[i];
    f.features = features[i];
    f.probability = probabilities[i];
    if (!unlabelled_below.empty() && f.level == unlabelled_below && f.probability >= 0) f.probability = -1, unjudged = true;
    f.pathological = f.probability >= 0 && f.probability >= out.threshold;
    out.vertebrae.push_back(std::move(f));
  }
  if (unjudged)
    out.warnings.push_back(unlabelled_below + " is named but not judged: the models learnt from bodies down to " +
                           level_decision.trained_down_to + " only");

  // What the models were not trained for is said, not hidden.
  const auto& info = out.info;
  // (Thicker non-sagittal slices were refused before detection; an isotropic 3D acquisition
  // has no plane to warn of.)
  if (info.acquisition_plane == "coronal" || info.acquisition_plane == "axial")
    out.warnings.push_back("acquired in the " + info.acquisition_plane +
                           " plane as thin slices and reformatted to sagittal: the models were trained on sagittal acquisitions");
  return out;
}

}  // namespace spinescan::pipeline
