#pragma once
// End-to-end per-vertebra metrics over VertebraRecords (missed bodies count with
// probability 0; unknown labels are skipped), with 95 % bootstrap intervals that resample
// cases, not vertebrae (vertebrae of one patient are not independent), and level accuracy.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "spinescan/data/lesions.h"
#include "spinescan/eval/classification_metrics.h"
#include "spinescan/pipeline/truth.h"

namespace spinescan::pipeline {

// Where records are flagged (score >= threshold): one threshold for all, or one per record, for
// a pool of evaluations each judged by its own bundle at that bundle's threshold (`evaluate
// pool --per-run-thresholds`). A plain double converts to the first.
class OperatingPoint {
 public:
  OperatingPoint(double threshold) : shared_(threshold) {}  // NOLINT(google-explicit-constructor): the usual case
  static OperatingPoint per_record(std::vector<double> thresholds);
  double at(size_t record) const { return per_record_.empty() ? shared_ : per_record_.at(record); }
  bool is_per_record() const { return !per_record_.empty(); }
  // The operating point of records[indices[0]], records[indices[1]], ...
  OperatingPoint subset(const std::vector<size_t>& indices) const;
  // The threshold, or the string "per run".
  nlohmann::json to_json() const;

 private:
  double shared_ = 0.5;
  std::vector<double> per_record_;
};

// scores[i] belongs to records[i]. {accuracy, precision, recall, f1, auc, n, positives, tp,
// fp, tn, fn, threshold, ci95: {metric: [lo, hi]}}.
nlohmann::json vertebra_metrics(const std::vector<VertebraRecord>& records, const std::vector<double>& scores, const OperatingPoint& threshold,
                                int resamples = 1000, uint64_t seed = 0);

// Labelled bodies, how many of them a track matched, and tracks that matched none:
// {truth, found, recall, extra_tracks}.
nlohmann::json vertebrae_found(const std::vector<VertebraRecord>& records);

// The scanner-shortcut measure, meant per source: of the found vertebrae labelled healthy
// (target 0), the share flagged (score >= threshold) and their score quartiles. A model that
// learnt which scanner a study comes from, rather than what is in a vertebra, flags most
// healthy bodies of the source where the pathological ones were. {n, flagged, flag_rate,
// threshold, p25, median, p75}; a body no track found counts in neither.
nlohmann::json healthy_flag_rate(const std::vector<VertebraRecord>& records, const std::vector<double>& scores,
                                 const OperatingPoint& threshold);

// The lowest threshold at which, in every source (case_source) on its own, at most
// `max_rate` of the found healthy-labelled vertebrae score at or above it: the operating point
// that keeps the scanner-shortcut measure above within a bound. 0 when no source has a
// healthy vertebra.
double threshold_for_healthy_flag_rate(const std::vector<VertebraRecord>& records, const std::vector<double>& scores,
                                       double max_rate);

// Recall on painted lesions (data/lesions.h), from a painted dataset's lesion index: per
// finding, per family, and subtle against the rest. A body no track found counts as missed.
// {finding|"family a"|"subtle"|"not subtle": {n, flagged, recall}}; empty when no record is painted.
nlohmann::json recall_by_lesion(const std::vector<VertebraRecord>& records, const std::vector<double>& scores, const OperatingPoint& threshold,
                                const std::map<std::pair<std::string, int>, PaintedBody>& lesions);

// Does the reported probability mean what it says? Over the vertebrae of known label that a
// track found (a missed body has no reported probability), ten equal-width bins; as JSON
// {n, ece, bins: [{lo, hi, count, mean_predicted, observed}]}. With fewer than ~200
// vertebrae a bin holds a handful and the ECE carries several hundredths of noise.
std::vector<eval::ReliabilityBin> calibration_bins(const std::vector<VertebraRecord>& records, const std::vector<double>& scores);
nlohmann::json calibration_json(const std::vector<eval::ReliabilityBin>& bins);

// Share of found vertebrae matched to a body of known level whose level was named right;
// {accuracy, n, cases_all_right, cases, count_warning}; count_warning: of those cases, how
// many got the "count the vertebrae" warning, among those named wrong and those named right.
nlohmann::json level_accuracy(const std::vector<VertebraRecord>& records);

}  // namespace spinescan::pipeline
