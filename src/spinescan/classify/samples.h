#pragma once
// Classifier samples: one per (vertebral body, sagittal slice through it), with the body's
// box on that slice and its label from vertebrae.csv. The normalised canonical volumes stay
// in memory so crops (with training jitter) are cut on the fly.
//
// Far lateral slices: a body's label applies to every slice through it, but a slice that
// only grazes the body (its area there under `min_area_fraction` of the body's largest
// sagittal area, or under `min_area_mm2`) shows mostly pedicle and partial volume, and
// neither a reader nor a model can judge the marrow there. Those slices are left out of
// training and of the slice metrics; vertebra-level results come from the remaining slices.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "spinescan/classify/crops.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/dataset.h"
#include "spinescan/io/volume.h"

namespace spinescan::classify {

struct SampleOptions {
  double min_area_fraction = 0.3;
  double min_area_mm2 = 50;
};

struct ClassifierCase {
  std::string name;
  Volume<float> normalized;  // canonical layout, per-slice percentile normalisation (as the detector's input)
};

struct CropSample {
  int case_index = 0;  // into ClassifierData::cases
  int slice = 0;
  int label = 0;       // body label in the case's label volume
  std::string level;
  ops::Box box;
  int target = -1;     // 1 pathological, 0 healthy, -1 unknown (never trained on or scored)
  // False on a slice of a painted body that its lesion left unchanged (a focal metastasis
  // shows on a few of a body's slices): the body is pathological, but that crop shows nothing
  // to learn from, so it is not drawn for training. Scoring still sees every slice.
  bool lesion_visible = true;
  bool painted = false;  // `synth lesions` painted this body (its lesions.csv names it)
  std::string finding;  // the body's first finding in vertebrae.csv (empty when none is named)
  double area_fraction = 0;  // body area on this slice / its largest sagittal area
};

struct ClassifierData {
  std::vector<ClassifierCase> cases;
  std::vector<CropSample> samples;
};

// Reads the named cases (all of the dataset's when `cases` is empty).
ClassifierData load_classifier_data(const Dataset& dataset, const std::vector<std::string>& cases,
                                    const SampleOptions& options = {},
                                    const std::function<void(size_t done, size_t total)>& on_case = {});

// Appends `more`'s cases and samples to `into` (its samples re-pointed at the moved cases).
// A case name may then appear twice, as another painting of the same anatomy: the sample
// drawer keys vertebrae by case index, so each copy is a vertebra of its own.
void append_classifier_data(ClassifierData& into, ClassifierData more);

// Per-vertebra aggregation of per-sample probabilities.
struct VertebraScore {
  std::string case_name;
  int label = 0;
  std::string level;
  int target = -1;
  double max_probability = 0, mean_probability = 0;
  int slices = 0;
  int evidence_slice = -1;  // slice with the highest probability
};
std::vector<VertebraScore> aggregate_per_vertebra(const ClassifierData& data, const std::vector<double>& probabilities);

// Mean over sources of the per-source AUC, counting only sources that hold both classes
// (NaN when none does). The early-stopping and tuning objective.
double within_source_auc(const std::vector<double>& scores, const std::vector<int>& labels,
                         const std::vector<std::string>& sources);

// Which training sample to draw next. Both modes draw a class, then a vertebra of that class,
// then one of its slices, so bodies with many slices do not dominate.
//  - kClass: class 50/50 over all labelled vertebrae. Where one source (site) holds only
//    healthy bodies (the Chu et al. volunteers here), "looks like that scanner" predicts
//    "healthy", and a model can learn the scanner instead of the marrow.
//  - kWithinSource: a source first (uniformly among those holding both classes), then class
//    50/50 within it. Every source drawn shows both classes equally often, so the scanner
//    carries no information about the label; single-class sources are not drawn at all.
enum class Balance { kClass, kWithinSource };
// Either mode can also spread the pathological draws evenly over findings (`by_finding`):
// after the class, a finding (uniformly among those the group holds), then a vertebra with it.
// Without it, a finding is drawn as often as its bodies are common: spondylodiscitis paints two
// bodies per lesion and a metastasis one, so in a painted dataset the metastases are about a
// sixth of the pathological draws and spondylodiscitis well over a third.

// Row weights for a learner that sees whole tables (the aggregator's trees) with the same aim
// as kWithinSource: inside every source that holds both classes, the positives' weights add
// up to the pooled positive share of that source's rows and the negatives' to the rest, so
// each source keeps its row count as total weight and shows the label at the same rate, and a
// feature that only says which scanner a study came from predicts nothing. A source with one
// class keeps weight 1 (nothing to balance; `single_class_sources` lists them when given).
// Labels are 0/1.
std::vector<float> within_source_weights(const std::vector<int>& labels, const std::vector<std::string>& sources,
                                         std::vector<std::string>* single_class_sources = nullptr);
Balance balance_from_string(const std::string& name);  // "class" | "within-source"; ConfigError otherwise
std::string to_string(Balance balance);

class SampleDrawer {
 public:
  // Samples with target < 0 are never drawn. DataError when nothing can be drawn (no
  // labelled vertebra; for kWithinSource, no source holding both classes).
  SampleDrawer(const ClassifierData& data, Balance balance, bool by_finding = false);
  // Index into data.samples.
  size_t draw(Rng& rng) const;
  // Sources that can be drawn from, and those left out (kWithinSource: single-class ones).
  const std::vector<std::string>& sources_used() const { return sources_used_; }
  const std::vector<std::string>& sources_left_out() const { return sources_left_out_; }
  // Labelled vertebrae that can be drawn, by class.
  size_t vertebrae(int cls) const;

 private:
  using Vertebrae = std::vector<std::vector<size_t>>;  // each vertebra: the list of its sample indices
  // groups_[g][cls] = strata of vertebrae of group g and class cls: one group per source
  // (kWithinSource) or a single group (kClass); one stratum, or for the pathological class
  // with `by_finding` one per finding.
  std::vector<std::array<std::vector<Vertebrae>, 2>> groups_;
  std::vector<std::string> sources_used_, sources_left_out_;
};

}  // namespace spinescan::classify
