#pragma once
// Lesions of the paper's pathologies painted into real vertebral bodies (docs/lesions.md).
// These are simulations: the anatomy, texture and noise are the real study's; only the
// lesion is modelled. Four lesion models follow each pathology's T2 appearance:
//   spondylodiscitis      two bodies across one disc: oedema along the facing endplates,
//                         eroded and blurred endplates, a brighter disc space;
//   metastasis            1-3 focal marrow lesions of 5-15 mm, mostly bright, some dark
//                         (blastic), sometimes breaking through the posterior wall;
//   fracture              height loss with anterior wedging (the label follows the body),
//                         often an oedema band under the endplate and a dark fracture line;
//   diffuse_infiltration  the whole marrow shifted, with heterogeneous texture.
// Every model exists in two families that differ in how shapes, edges, textures and
// contrasts are drawn (family a: ellipsoids, logistic edges, smooth texture; family b:
// lobulated shapes, raised-cosine edges, nodular texture, other contrast distributions), so
// a classifier trained on one family can be tested on the other.
// Painting works in mm from the header spacing, in the canonical layout (io/volume.h):
// intensities shift relative to the body's own per-slice median, so the image's texture,
// noise and per-slice scaling stay; edges are soft and a lesion's weight is averaged over
// the slice thickness (partial volume). Same seed, same bytes (core/rng.h only).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "spinescan/io/volume.h"

namespace spinescan {

class Rng;

// The findings the painter writes into vertebrae.csv.
const std::vector<std::string>& lesion_findings();

struct LesionOptions {
  double fraction = 0.3;            // expected share of a case's eligible bodies that are painted
  std::string family = "all";       // "a", "b", or "all" (drawn per lesion)
  std::vector<std::string> findings = lesion_findings();  // the lesion models to draw from
  double subtle_fraction = 0.25;    // share of lesions drawn small and faint
  // What an unpainted body's label becomes: "unknown" (a source label of 1 becomes empty:
  // real findings that are not the painted ones neither train nor score; 0 stays 0),
  // "keep" (source labels unchanged), "healthy" (every unpainted body 0).
  std::string source_labels = "unknown";
  // Only these cases are painted and written (empty: every case). A case paints the same
  // whichever others are chosen: its seed comes from the run's seed and its own name.
  std::vector<std::string> cases;
  void validate() const;
};

struct PaintedLesion {
  std::vector<int> labels;   // bodies it marks pathological (two for spondylodiscitis)
  std::string finding;       // one of lesion_findings()
  char family = 'a';
  bool subtle = false;
  double contrast = 0;       // signed share of the way from the body's median to the bright (+) or dark (-) reference
  double size_mm = 0;        // lesion diameter, oedema band depth, or height loss in mm
  std::string detail;        // the drawn parameters, human-readable
};

// Paints one lesion of `finding` into `label` (for spondylodiscitis: `label` and the body
// directly below it, or above when none is below) of a canonical image and its labels.
// `family` is 'a' or 'b'. Throws DataError when the body (or its partner) is absent.
PaintedLesion paint_lesion(Volume<float>& canonical_image, Volume<uint16_t>& canonical_labels,
                           const std::string& finding, int label, char family, bool subtle, Rng& rng);

// Chooses bodies among `eligible` labels (each with probability options.fraction) and paints
// them. A body is painted at most once; a spondylodiscitis takes an eligible neighbour too.
std::vector<PaintedLesion> paint_case(Volume<float>& canonical_image, Volume<uint16_t>& canonical_labels,
                                      const std::vector<int>& eligible, uint64_t seed, const LesionOptions& options);

// The canonical slices on which painting visibly changed the bodies `body_labels` (what
// lesions.csv's visible_slices holds, and what the classifier trains on): a voxel of the
// bodies, before or after painting (so a fracture's lost height counts), that changed by at
// least a quarter of the largest change, on at least 2 % of the bodies' voxels on that slice
// and at least 4 voxels. Relative to the lesion's own largest change, so a faint lesion is
// located as well as a bright one. Ascending; empty when nothing changed.
std::vector<int> lesion_visible_slices(const Volume<float>& before, const Volume<float>& after,
                                       const Volume<uint16_t>& labels_before, const Volume<uint16_t>& labels_after,
                                       const std::vector<int>& body_labels);

struct LesionDatasetSummary {
  size_t cases = 0, bodies = 0, painted_bodies = 0;
  std::vector<std::pair<std::string, PaintedLesion>> lesions;  // (case, lesion)
};

// Reads the dataset at `data`, paints every case and writes a new dataset at `out` (staged,
// renamed when complete): images with lesions, labels (changed only by fractures),
// vertebrae.csv (painted bodies pathological=1, findings=<finding>; other labels per
// options.source_labels), dataset.json (the source's, plus how it was painted) and
// lesions.csv (one row per lesion with its parameters). Partial bodies (source_note says
// "partial") are never painted.
LesionDatasetSummary write_lesion_dataset(const std::filesystem::path& data, const std::filesystem::path& out,
                                          uint64_t seed, const LesionOptions& options, bool overwrite,
                                          const std::function<void(size_t done, size_t total)>& on_case = {});

// What lesions.csv of a painted dataset says about one body.
struct PaintedBody {
  std::string finding;
  char family = 'a';
  bool subtle = false;
  std::vector<int> visible_slices;  // canonical slices where the lesion shows, ascending; empty = every slice
};
// (case, label) -> lesion, from <root>/lesions.csv; empty when the dataset has none.
// Throws DataError on a malformed file.
std::map<std::pair<std::string, int>, PaintedBody> read_lesion_index(const std::filesystem::path& dataset_root);

// Before-and-after pictures: for each lesion of `painted`/lesions.csv, the body's central
// sagittal slice from `original` and from `painted` side by side, in one intensity scale,
// written to out/<case>_<label>_<finding>.png. Returns the number of pictures.
size_t render_lesions(const std::filesystem::path& original, const std::filesystem::path& painted,
                      const std::filesystem::path& out, size_t max_pictures = 0);

}  // namespace spinescan
