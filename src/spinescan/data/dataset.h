#pragma once
// The dataset format (docs/dataset_format.md):
//   <root>/dataset.json                  name, sources, licence, orientation, label semantics, cases
//   <root>/vertebrae.csv                 case,label,level,pathological,findings,source_note
//   <root>/cases/<case>/image.nii.gz     3D volume
//   <root>/cases/<case>/vertebrae.nii.gz instance labels (one integer per vertebral body)
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace spinescan {

struct VertebraRow {
  std::string case_name;
  int label = 0;
  std::string level;          // "L4", "S1", ... or empty when unknown
  std::optional<bool> pathological;  // empty = unknown: never used for training or metrics
  std::string findings;       // ';'-separated
  std::string source_note;
};

struct CaseEntry {
  std::string name;
  std::filesystem::path image;   // absolute
  std::filesystem::path labels;  // absolute
};

struct Dataset {
  std::filesystem::path root;
  nlohmann::json manifest;
  std::vector<CaseEntry> cases;
  std::vector<VertebraRow> vertebrae;

  std::vector<VertebraRow> rows_of(const std::string& case_name) const;
  const CaseEntry& case_named(const std::string& name) const;
  // Whether any vertebra of the case is labelled pathological (for stratified splits).
  bool has_pathological(const std::string& case_name) const;
};

// Reads dataset.json and vertebrae.csv (not the volumes). The case list is dataset.json's
// "cases" (objects with "case", and optionally "image"/"labels" relative to root), or the
// sub-folders of cases/ when it has none. Throws DataError on a missing or malformed file.
Dataset load_dataset(const std::filesystem::path& root);

// Known anatomical level names: C1-C7, T1-T13, L1-L6, S1-S5 (T13/L6: transitional anatomy).
// The source (site, scanner) of a case: its name up to the first '_' ("spider_110" ->
// "spider", "vb2_003" -> "vb2", "phantom_001" -> "phantom"). Sources differ in scanner and
// preprocessing, and a model can score by telling sites apart; metrics per source and within-source
// AUC and leave-one-source-out splits keep that from passing for skill.
std::string case_source(const std::string& case_name);

bool is_known_level(const std::string& level);
// Position along the spine, cranial first (C1 = 0 ... S5); -1 when unknown.
int level_order(const std::string& level);

struct DatasetProblem {
  std::string case_name;  // empty for dataset-wide problems
  std::string message;
};

// Validates everything, reading every volume: files exist and read, image 3D and not
// constant, labels on the image's grid, every label in the volume has a CSV row and every
// row's label is in the volume, levels known, pathological 1/0/empty, no duplicate rows.
// `on_case` (optional) is called after each case for progress.
std::vector<DatasetProblem> check_dataset(const Dataset& dataset,
                                          const std::function<void(size_t done, size_t total)>& on_case = {});

struct DatasetStats {
  size_t num_cases = 0, num_bodies = 0, num_pathological = 0, num_healthy = 0, num_unknown = 0;
  size_t cases_with_pathological = 0;
  std::map<std::string, size_t> bodies_per_level;
  // Over cases, canonical layout: slices (L->R), rows (S->I), cols (A->P).
  size_t min_slices = 0, max_slices = 0, total_slices = 0, slices_with_bodies = 0;
  std::array<double, 3> min_spacing_mm{0, 0, 0}, max_spacing_mm{0, 0, 0};  // canonical col,row,slice
  // Vertebral-body boxes on sagittal slices (in mm), for choosing anchors: percentiles 5/50/95.
  std::array<double, 3> box_width_mm{0, 0, 0}, box_height_mm{0, 0, 0}, box_aspect{0, 0, 0};
  size_t num_boxes = 0;
};
DatasetStats compute_stats(const Dataset& dataset, const std::function<void(size_t, size_t)>& on_case = {});
std::string format_stats(const DatasetStats& stats);

}  // namespace spinescan
