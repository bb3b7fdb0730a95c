#include "spinescan/classify/samples.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "spinescan/core/errors.h"
#include "spinescan/data/boxes.h"
#include "spinescan/data/lesions.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"

namespace spinescan::classify {

ClassifierData load_classifier_data(const Dataset& d, const std::vector<std::string>& requested, const SampleOptions& o,
                                    const std::function<void(size_t, size_t)>& on_case) {
  std::vector<std::string> names = requested;
  if (names.empty())
    for (const auto& c : d.cases) names.push_back(c.name);
  ClassifierData out;
  const auto painted = read_lesion_index(d.root);  // empty unless `synth lesions` wrote the dataset
  for (size_t ci = 0; ci < names.size(); ++ci) {
    const CaseEntry& entry = d.case_named(names[ci]);
    const LoadedStudy study = load_study(entry.image);
    ClassifierCase c;
    c.name = names[ci];
    c.normalized = detect::normalize_for_detector(study.canonical);
    const Volume<uint16_t> labels = to_canonical(read_label_volume(entry.labels));
    SPINESCAN_CHECK(labels.size == c.normalized.size, entry.labels.string(), ": label volume not on the image grid");
    std::map<int, const VertebraRow*> rows;
    const auto case_rows = d.rows_of(c.name);
    for (const auto& r : case_rows) rows[r.label] = &r;
    const auto boxes = boxes_per_slice(labels);
    std::map<int, int64_t> max_area;
    for (const auto& slice : boxes)
      for (const auto& b : slice) max_area[b.label] = std::max(max_area[b.label], b.area_px);
    const double pixel_area_mm2 = labels.spacing_mm[0] * labels.spacing_mm[1];
    for (size_t k = 0; k < boxes.size(); ++k)
      for (const auto& b : boxes[k]) {
        const double fraction = static_cast<double>(b.area_px) / static_cast<double>(max_area[b.label]);
        if (fraction < o.min_area_fraction || static_cast<double>(b.area_px) * pixel_area_mm2 < o.min_area_mm2) continue;
        CropSample s;
        s.case_index = static_cast<int>(ci);
        s.slice = static_cast<int>(k);
        s.label = b.label;
        s.box = b.box;
        s.area_fraction = fraction;
        const auto row = rows.find(b.label);
        SPINESCAN_CHECK_AS(row != rows.end(), DataError, entry.labels.string(), ": label ", b.label, " has no row in vertebrae.csv");
        s.level = row->second->level;
        if (row->second->pathological) s.target = *row->second->pathological ? 1 : 0;
        s.finding = row->second->findings.substr(0, row->second->findings.find(';'));
        const auto lesion = painted.find({c.name, b.label});
        s.painted = lesion != painted.end();
        if (s.painted && !lesion->second.visible_slices.empty())
          s.lesion_visible = std::binary_search(lesion->second.visible_slices.begin(), lesion->second.visible_slices.end(), s.slice);
        out.samples.push_back(s);
      }
    out.cases.push_back(std::move(c));
    if (on_case) on_case(ci + 1, names.size());
  }
  return out;
}

std::vector<VertebraScore> aggregate_per_vertebra(const ClassifierData& data, const std::vector<double>& p) {
  SPINESCAN_CHECK(p.size() == data.samples.size(), "aggregate: ", p.size(), " probabilities for ", data.samples.size(),
                  " samples");
  std::map<std::pair<int, int>, VertebraScore> by_body;
  for (size_t i = 0; i < p.size(); ++i) {
    const auto& s = data.samples[i];
    auto [it, fresh] = by_body.try_emplace({s.case_index, s.label});
    VertebraScore& v = it->second;
    if (fresh) {
      v.case_name = data.cases[static_cast<size_t>(s.case_index)].name;
      v.label = s.label;
      v.level = s.level;
      v.target = s.target;
      v.max_probability = -1;
    }
    if (p[i] > v.max_probability) {
      v.max_probability = p[i];
      v.evidence_slice = s.slice;
    }
    v.mean_probability += p[i];
    ++v.slices;
  }
  std::vector<VertebraScore> out;
  for (auto& [key, v] : by_body) {
    v.mean_probability /= v.slices;
    out.push_back(v);
  }
  return out;
}


std::vector<float> within_source_weights(const std::vector<int>& labels, const std::vector<std::string>& sources,
                                         std::vector<std::string>* single_class_sources) {
  SPINESCAN_CHECK(labels.size() == sources.size(), "within-source weights: ", labels.size(), " labels but ", sources.size(),
                  " sources");
  std::map<std::string, std::array<double, 2>> counts;  // source -> rows of class 0, 1
  double positives = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    SPINESCAN_CHECK(labels[i] == 0 || labels[i] == 1, "within-source weights: label ", labels[i], " is not 0 or 1");
    counts[sources[i]][static_cast<size_t>(labels[i])] += 1;
    positives += labels[i];
  }
  const double pooled = labels.empty() ? 0.5 : positives / static_cast<double>(labels.size());
  if (single_class_sources)
    for (const auto& [source, n] : counts)
      if (n[0] == 0 || n[1] == 0) single_class_sources->push_back(source);
  std::vector<float> w(labels.size(), 1.0f);
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& n = counts[sources[i]];
    if (n[0] == 0 || n[1] == 0) continue;
    const double share = labels[i] ? pooled : 1 - pooled;
    w[i] = static_cast<float>(share * (n[0] + n[1]) / n[static_cast<size_t>(labels[i])]);
  }
  return w;
}

double within_source_auc(const std::vector<double>& scores, const std::vector<int>& labels,
                         const std::vector<std::string>& sources) {
  SPINESCAN_CHECK(scores.size() == labels.size() && scores.size() == sources.size(), "within-source AUC: lengths differ");
  std::map<std::string, std::pair<std::vector<double>, std::vector<int>>> groups;
  for (size_t i = 0; i < scores.size(); ++i) {
    groups[sources[i]].first.push_back(scores[i]);
    groups[sources[i]].second.push_back(labels[i]);
  }
  double sum = 0;
  int n = 0;
  for (const auto& [source, g] : groups) {
    const double auc = eval::roc_auc(g.first, g.second);
    if (std::isfinite(auc)) {
      sum += auc;
      ++n;
    }
  }
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

Balance balance_from_string(const std::string& name) {
  if (name == "class") return Balance::kClass;
  if (name == "within-source") return Balance::kWithinSource;
  throw ConfigError("balance: expected 'class' or 'within-source', got '" + name + "'");
}

std::string to_string(Balance balance) { return balance == Balance::kClass ? "class" : "within-source"; }

void append_classifier_data(ClassifierData& into, ClassifierData more) {
  const int offset = static_cast<int>(into.cases.size());
  for (auto& c : more.cases) into.cases.push_back(std::move(c));
  into.samples.reserve(into.samples.size() + more.samples.size());
  for (auto& s : more.samples) {
    s.case_index += offset;
    into.samples.push_back(std::move(s));
  }
}

SampleDrawer::SampleDrawer(const ClassifierData& data, Balance balance, bool by_finding) {
  // Vertebrae keyed by (source, case, body label); a std::map keeps the order, and so the
  // draws, independent of the sample order.
  std::map<std::string, std::map<std::pair<int, int>, std::vector<size_t>>> by_source;
  for (size_t i = 0; i < data.samples.size(); ++i) {
    const CropSample& s = data.samples[i];
    if (s.target < 0 || (s.target == 1 && !s.lesion_visible)) continue;
    by_source[case_source(data.cases[static_cast<size_t>(s.case_index)].name)][{s.case_index, s.label}].push_back(i);
  }
  // Strata of one class, in finding order (a std::map again, for repeatable draws).
  auto stratify = [&](const std::vector<std::vector<size_t>>& bodies, bool split) {
    std::map<std::string, Vertebrae> strata;
    for (const auto& idx : bodies) strata[split ? data.samples[idx[0]].finding : std::string()].push_back(idx);
    std::vector<Vertebrae> out;
    for (auto& [finding, v] : strata) out.push_back(std::move(v));
    return out;
  };
  std::vector<std::array<Vertebrae, 2>> flat;  // per group, per class, before stratifying
  if (balance == Balance::kClass) flat.emplace_back();
  for (const auto& [source, bodies] : by_source) {
    std::array<Vertebrae, 2> group;
    for (const auto& [key, idx] : bodies) group[static_cast<size_t>(data.samples[idx[0]].target)].push_back(idx);
    if (balance == Balance::kClass) {
      for (size_t cls = 0; cls < 2; ++cls)
        for (auto& idx : group[cls]) flat[0][cls].push_back(std::move(idx));
      sources_used_.push_back(source);
    } else if (!group[0].empty() && !group[1].empty()) {
      flat.push_back(std::move(group));
      sources_used_.push_back(source);
    } else {
      sources_left_out_.push_back(source);
    }
  }
  for (const auto& g : flat) groups_.push_back({stratify(g[0], false), stratify(g[1], by_finding)});
  SPINESCAN_CHECK_AS(vertebrae(0) + vertebrae(1) > 0, DataError,
                     balance == Balance::kClass ? "no labelled vertebra in the training cases"
                                                : "within-source balance: no source holds both healthy and pathological vertebrae");
}

size_t SampleDrawer::draw(Rng& rng) const {
  const auto& group = groups_[rng.below(groups_.size())];
  int cls = rng.chance(0.5) ? 1 : 0;
  if (group[static_cast<size_t>(cls)].empty()) cls = 1 - cls;  // kClass with one class only
  const auto& strata = group[static_cast<size_t>(cls)];
  // One stratum draws no number, so runs without `by_finding` draw as they always did.
  const auto& bodies = strata.size() == 1 ? strata[0] : strata[rng.below(strata.size())];
  const auto& idx = bodies[rng.below(bodies.size())];
  return idx[rng.below(idx.size())];
}

size_t SampleDrawer::vertebrae(int cls) const {
  size_t n = 0;
  for (const auto& g : groups_)
    for (const auto& stratum : g[static_cast<size_t>(cls)]) n += stratum.size();
  return n;
}

}  // namespace spinescan::classify
