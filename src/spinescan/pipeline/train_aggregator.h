#pragma once
// `spinescan train aggregator`: the boosted-tree model that turns one vertebra's slice
// results and 3D context into one probability, trained on out-of-fold classifier outputs
// only. For each fold j of the split, the detector runs on fold j's held-out cases and the
// classifier trained without them (classifier run j) scores every box (with --detectors,
// detector run j finds the boxes); the features of those
// cases are therefore never computed by a classifier that saw them. The aggregator is then
// fitted on the training cases of --fold (inner cross-validation over the other folds gives
// its threshold and its out-of-fold numbers) and scored on --fold's held-out cases, so the
// whole bundle (detector, classifier and aggregator of --fold) has one untouched test set.
#include <string>
#include <vector>

#include "spinescan/aggregate/booster.h"

namespace spinescan::pipeline {

struct AggregatorTrainConfig {
  std::string data, split, out;
  // Other paintings of --data's cases (synth lesions, other seeds): their out-of-fold records
  // train the trees and set the thresholds too; the reported numbers stay on --data's records,
  // so runs with and without them compare on the same bodies.
  std::vector<std::string> extra_data;
  std::string model;                         // bundle whose detector finds the vertebrae
  std::vector<std::string> classifier_runs;  // one per fold of the split, in fold order
  // Empty: the bundle's detector on every fold. Else one detector run per fold, in fold order
  // (run j never saw fold j), so the records show how the detector behaves on cases it did
  // not train on.
  std::vector<std::string> detector_runs;
  int fold = 0;
  aggregate::BoosterParams booster;
  bool monotone_evidence = true;             // aggregate::evidence_monotone_constraints() on the trees
  // Columns of aggregate::vertebra_feature_names() the trees do not see (to measure what a
  // feature adds, beside a run without it on the same cached records).
  std::vector<std::string> drop_features;
  std::string threshold_rule = "half-best-f1";  // or "best-f1" (see train_aggregator.cpp)
  // Raise the threshold until, on the training folds' out-of-fold scores, at most this share of
  // each source's healthy-labelled vertebrae is flagged (threshold_for_healthy_flag_rate); 1: no bound.
  double max_healthy_flag_rate = 1.0;
  // "within-source": rows weighted so every source shows the label at the same rate
  // (classify::within_source_weights); "class": every row weight 1.
  std::string balance = "within-source";
  std::string device = "cpu";
  int bootstrap = 1000;
};

// Writes <out>/records.jsonl (features per vertebra; re-used by a later run with the same
// inputs; records_extra<k>.jsonl for the k-th --extra-data), aggregator.json (XGBoost), aggregator_spec.json (the bundle manifest section) and
// metrics.json (with and without the aggregator, same cases, and the level accuracy of the
// --model bundle's level model when it has one: levels are `train levels`' alone); returns
// metrics.json's text.
std::string train_aggregator(const AggregatorTrainConfig& config);

// Adds a trained aggregator (run folder of train_aggregator) to a bundle; returns the model
// file's size. The bundle's level model (its "levels" section) is left as it is.
uint64_t add_aggregator_to_bundle(const std::string& run, const std::string& bundle);

}  // namespace spinescan::pipeline
