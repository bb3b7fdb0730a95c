#pragma once
// Examples for the level head (aggregate::LevelModel) from ground truth alone.
//
// The head has to tell, for the lowest body the detector found, whether it is the lowest
// labelled body (L5 where the sacrum is unlabelled) or the unlabelled one below it (S1),
// which the detector boxes now and then on studies it did not train on. Learnt from the
// detector's own output, it sees that second kind a handful of times (6 of 47 studies with
// out-of-fold detectors), and the one-feature threshold on image cues that manifest version 1
// fitted to those few cases did not carry over to new ones. From ground truth every training study gives one of each kind: its lowest
// labelled body, and a body-sized box one vertebral step below it (the step between the two
// lowest labelled bodies, so it follows the curve of the column), which lands on the body
// beneath (and, for a detector that misses the lowest labelled body, the body above it).
// Only the image says which is which there, and only its signal: the detector's scores are
// not in these examples (learn_levels takes them from out-of-fold records, when it has them)
// and the box below copies the lowest body's size and shape.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spinescan/aggregate/levels.h"
#include "spinescan/classify/samples.h"
#include "spinescan/pipeline/truth.h"

namespace spinescan::levels {

using pipeline::VertebraRecord;  // what the end-to-end evaluation records of each body

struct LowestLevelExamples {
  std::vector<std::vector<double>> features;  // aggregate::vertebra_feature_names() columns of the lowest track
  std::vector<std::string> levels;            // its level
  std::vector<std::string> cases;             // the case each example comes from
};

// Whether the centre of a track (a box one step below, say) lies in the sagittal image plane
// of `v`: a box the image cuts still shows what is there, one whose centre is outside shows
// nothing.
bool centre_in_image(const aggregate::Track& track, const Volume<float>& v);

// A case's labelled bodies of known level as tracks of their ground-truth boxes (score 1),
// ordered superior -> inferior.
struct LabelledTrack {
  aggregate::Track track;
  std::string level;
};
std::vector<LabelledTrack> ground_truth_column(const classify::ClassifierData& data, size_t case_index);

// The lowest body's boxes moved by the step from the body above it to it: where the next
// body down lies, following the column's curve.
aggregate::Track one_step_below(const aggregate::Track& lowest, const aggregate::Track& above_it);

// What the level net learns from in one case (levels/level_net.h) and is scored on: its
// lowest labelled body and the box one step below it; none for a case with fewer than two
// labelled bodies. `below_inside` is false when the box's centre is outside the image.
struct LowestAndBelow {
  aggregate::Track lowest, below;
  bool below_inside = false;
};
std::optional<LowestAndBelow> lowest_and_below(const classify::ClassifierData& data, size_t case_index);

// Up to three examples per case of `data` with at least two labelled bodies of known level,
// one for each way the lowest found body can relate to the lowest labelled one: it is that
// body (its level); it is the body above, the lowest one missed (with three or more bodies);
// it is the unlabelled body below, a box one vertebral step down (the level below; left out
// when its centre is outside the image).
LowestLevelExamples ground_truth_lowest_examples(const classify::ClassifierData& data);

// The level cues that ground-truth examples can inform: the signal ones of
// level_cue_feature_names() (of the body, of its inferior endplate band, of what lies below
// it, and against its neighbours). Not the detector's scores (every ground-truth box has
// score 1) nor size and shape (the box below is a copy of the lowest body's boxes).
std::vector<std::string> image_level_cue_names();

// The detector's own cue for the score head (LevelModel::score_head): its mean score over the
// lowest body's slices. Learnt only from out-of-fold records; on S1 a detector trained where S1
// is background tends to be less sure (0.39-0.68 on four such boxes against 0.45-1.00 on L5).
std::vector<std::string> score_level_cue_names();

using CaseRecords = std::map<std::string, std::vector<const VertebraRecord*>>;
CaseRecords group_by_case(const std::vector<VertebraRecord>& records);

// A case's lowest found vertebra and its true level ("" when no found vertebra has a known
// level; counted down from the nearest one that has, since the body below the labelled ones
// has none).
struct LowestFound {
  const VertebraRecord* record = nullptr;  // null when nothing was found
  std::string true_level;
};
LowestFound lowest_found(const std::vector<const VertebraRecord*>& case_records);

// The level model's cues of a case's lowest found vertebra (aggregate::lowest_body_cues, with
// the record's level net logit); `lowest.record` must be set.
aggregate::LowestCues lowest_cues(const LowestFound& lowest);

// The lowest found vertebra's level in one case under `model`.
std::string lowest_level_of_case(const aggregate::LevelModel& model, const std::vector<const VertebraRecord*>& case_records);

// How often a detector trained where the sacrum is unlabelled boxes S1 as the lowest body on
// studies it did not train on: with one out-of-fold detector per fold of
// models/default/splits_spine_mri.json, in 6 of the 47 studies (docs/analyze.md, "Levels").
// The prior of the level head when the records cannot tell (a detector on its own training cases).
constexpr double kMeasuredBelowRate = 6.0 / 47.0;

// The level model: which level the lowest found body is, from the detector's records of the
// training `cases` (the level most of them show). A level head (LevelModel::head: logistic
// regression on image_level_cue_names()) fitted on the `ground_truth` examples picks between
// that level and the other one (the records' second level when at least 3 cases show it, else
// the level below); with too few examples of either, the usual level is always said. The
// head's prior is the share of the records' cases showing the other level when at least 3 do
// (out-of-fold records; a score head on score_level_cue_names() is then fitted on their lowest
// bodies too), else `default_alternative_rate`. Its confidence is the share of those cases in
// which counting up from the lowest body names every matched vertebra right (smoothed).
// With a `level_net` description (LevelModel::level_net), the head uses the level net's logit
// where the records carry one (VertebraRecord::level_net_logit), also for the confidence.
aggregate::LevelModel learn_levels(const std::vector<VertebraRecord>& records, const std::vector<std::string>& cases,
                                   const LowestLevelExamples& ground_truth,
                                   double default_alternative_rate = kMeasuredBelowRate,
                                   const nlohmann::json& level_net = nullptr);

// Records named by `model` (level of each found vertebra counted up from the lowest).
void name_records(const aggregate::LevelModel& model, std::vector<VertebraRecord>* records);

}  // namespace spinescan::levels
