#pragma once
// What the boosted-tree aggregator sees of one 3D vertebra: a summary of its slices (the
// classifier's probabilities and the detector's scores), its shape in mm and how that
// compares with its neighbours (collapse, wedging), its marrow signal relative to the
// neighbours' (the scanner's gain cancels in a ratio), its place in the column, and the
// neighbours' probabilities (infection and Modic changes cross the disc), the intensity
// model's per-slice probabilities when the bundle has one, the strongest focal bright and
// dark spot of its marrow (metastases), and its probabilities and marrow signal against the
// median of the study's other bodies (a patient's whole marrow can look unusual). Missing values
// (no classifier, no neighbour) are NaN, which the trees route on their own branch.
#include <string>
#include <vector>

#include "spinescan/aggregate/tracks.h"
#include "spinescan/io/volume.h"

namespace spinescan::aggregate {

const std::vector<std::string>& vertebra_feature_names();

// The features a level rule may use to tell an S1 from an L5 as the lowest body found
// (LevelModel): the detector's confidence (S1 is background to a detector trained where the
// sacrum is unlabelled, so a box on it is a less sure one), the body's size and shape against
// its neighbours', the signal of its body and of what lies below it (a disc under L5, the
// fused sacrum under S1) and how many slices it spans. Not the pathology probabilities nor
// the place in the column: with a few dozen training cases a threshold on one of those 34
// columns separates a handful of S1 cases by chance.
const std::vector<std::string>& level_cue_feature_names();

// Summary of the classifier's per-slice probabilities of one track.
struct SliceEvidence {
  double max = -1, mean = -1, top2_mean = -1, sd = -1;  // -1: no slice was classified
  int evidence_slice = -1;                              // the slice with the highest probability (else the largest box)
};
SliceEvidence slice_evidence(const Track& track);

// One row per track (ordered superior -> inferior), vertebra_feature_names() columns.
std::vector<std::vector<double>> vertebra_features(const std::vector<Track>& tracks, const Volume<float>& normalized);

// Monotone constraints for the trees, aligned with `names` (columns of vertebra_feature_names()):
// the verdict may only rise with the classifier's and the intensity model's probabilities (max,
// mean, top-2 mean). With a few hundred training vertebrae, free trees learnt bumps such as "a
// very high maximum but a low mean lowers p" that no reader would accept.
std::vector<int> evidence_monotone_constraints(const std::vector<std::string>& names = vertebra_feature_names());

// An aggregator reads the columns it was trained on, by name, so that a bundle stays valid
// when this program computes more: the positions of `names` in vertebra_feature_names()
// (ModelError naming the first it does not compute), and a row cut down to them.
std::vector<size_t> feature_columns(const std::vector<std::string>& names);
std::vector<double> select_columns(const std::vector<double>& row, const std::vector<size_t>& columns);

}  // namespace spinescan::aggregate
