#pragma once
// Detector samples: canonical sagittal slices of a dataset's cases, normalised and put on the
// working canvas, with their body label maps (for exact boxes after augmentation) and their
// exact ground-truth boxes in canvas pixels (for evaluation).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "spinescan/core/rng.h"
#include "spinescan/data/dataset.h"
#include "spinescan/detect/canvas.h"
#include "spinescan/eval/detection_metrics.h"
#include "spinescan/io/volume.h"

namespace spinescan::detect {

struct CanvasSlice {
  std::string case_name;
  int slice = 0;                    // canonical slice index
  int volume_slices = 0;            // canonical slices in its volume
  double slice_mm = 0;              // distance between its volume's slices
  CanvasGeometry geometry;
  std::vector<float> image;         // size x size, intensities ~[0, 1]
  std::vector<uint8_t> labels;      // size x size, body label (nearest), 0 = none
  std::vector<eval::GroundTruth> truth;  // exact boxes in canvas pixels
  std::vector<int> truth_labels;    // body label of each truth box
  // Mean intensity of this slice normalised with its whole volume over its mean normalised on
  // its own: augmentation multiplies by a power of it to show the detector per-volume scaling.
  float volume_gain = 1;
};

struct SliceDataOptions {
  CanvasOptions canvas;
  // Bodies covering less than this on a slice (lateral slivers) are ignored in metrics and
  // not used as training targets: their extent is ambiguous even to a reader.
  double min_body_area_mm2 = 50;
  bool include_empty_slices = true;
};

// Normalises one canonical volume the way the detector expects (per slice: robust
// percentiles, see io/normalize.h; the SPIDER export rescaled each slice on its own).
Volume<float> normalize_for_detector(const Volume<float>& canonical);

// One slice of a normalised canonical volume on the canvas (no labels).
CanvasSlice make_canvas_slice(const Volume<float>& normalized, int slice, const CanvasOptions& canvas);

// Index in `slices` of the same case's canonical slice `slice`, searched from `index` (a case's
// slices consecutive and in order, as load_canvas_slices gives them); -1 when it is absent.
int64_t find_case_slice(const std::vector<CanvasSlice>& slices, size_t index, int slice);

// Index in `slices` of the slice each input channel of slices[index] reads (canvas.channel_slices());
// a context slice absent from `slices` (an empty slice left out) reads the centre, index itself.
// Training (make_batch) and evaluation (detector_input) both read channels through this.
std::vector<size_t> channel_indices(const std::vector<CanvasSlice>& slices, size_t index, const CanvasOptions& canvas);

// The detector's input for slices[index]: canvas.channels() planes of size x size, the images
// of channel_indices().
std::vector<float> detector_input(const std::vector<CanvasSlice>& slices, size_t index, const CanvasOptions& canvas);

// All slices of the named cases. `on_case(done, total)` reports progress.
std::vector<CanvasSlice> load_canvas_slices(const Dataset& dataset, const std::vector<std::string>& cases,
                                            const SliceDataOptions& options,
                                            const std::function<void(size_t, size_t)>& on_case = {});

// For each slice and each of its truth boxes: the body's section on that slice (canvas pixels
// of its label) over its largest section on any slice of the same case; 0 for a body that never
// reaches the canvas. A lateral slice cuts a body's side (a small share), a central one its middle.
std::vector<std::vector<double>> section_shares(const std::vector<CanvasSlice>& slices);

// The slices a training run draws from, sorted once when they load (they do not change within a
// run): per case (in name order) the slices through a target body, per case that has any the
// slices cutting the side of a target body (its section share under 0.5), and the slices without
// a target body. A slice whose only bodies are ignored slivers counts as one without a body.
struct DrawPool {
  std::vector<std::vector<size_t>> with_body_by_case;
  std::vector<std::vector<size_t>> side_by_case;
  std::vector<size_t> empty;
};
DrawPool make_draw_pool(const std::vector<CanvasSlice>& slices);

// Indices of the slices drawn for one training epoch: each case equally likely, then one of its
// slices through a body; `empty_fraction` of the draws are slices without a target body (so the
// detector learns silence), and `side_fraction` of the others slices cutting the side of a body
// (a case that has such slices, then one of them).
// With side_fraction 0 the random stream is the one drawn before that option existed.
std::vector<size_t> draw_training_slices(const DrawPool& pool, int count, double empty_fraction, double side_fraction,
                                         Rng& rng);

// Boxes (canvas px) of the labels in a size x size label map; bodies under min_area_px dropped.
std::vector<ops::Box> boxes_from_label_map(const uint8_t* labels, int size, int64_t min_area_px);

}  // namespace spinescan::detect
