#pragma once
// Synthetic sagittal lumbar spine MRI ("phantoms") for unit tests, CI and the classifier's
// sanity checks. Each phantom is drawn in the canonical layout (io/volume.h) from an
// analytic model, then stored under a random axis permutation/flip so readers are tested
// on every orientation. Anatomy (approximate adult sizes, T2-like contrast):
//   vertebral bodies (rounded boxes with cortical rim, concave endplates, lordotic tilt),
//   S1 on a sacral segment, discs (bright nucleus, dark annulus; some degenerate),
//   spinal canal (CSF-bright), posterior elements, back muscles, fat, abdomen, aorta.
// Pathologies of the paper's kinds, each marks its body pathological:
//   infection    T2-bright marrow, the adjacent disc bright and narrowed, eroded endplate,
//                often both bodies across the disc (spondylodiscitis);
//   tumour       focal T2-bright or -dark lesions, or diffuse dark marrow;
//   fracture     wedge (anterior height loss) or biconcave collapse with marrow oedema;
//   endplate     endplate erosion with a Modic-like band of changed marrow signal.
// Scanner effects: random gain (1.5 T vs 3 T scale), smooth bias field, Rician noise.
// Same seed, same bytes: all randomness comes from core/rng.h.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "spinescan/io/volume.h"

namespace spinescan {

struct PhantomOptions {
  int min_bodies = 5;  // labelled bodies, counted from S1 upwards (5 = S1, L5..L2)
  int max_bodies = 7;
  double min_inplane_spacing_mm = 0.4, max_inplane_spacing_mm = 1.2;
  double min_slice_spacing_mm = 1.0, max_slice_spacing_mm = 4.0;
  bool random_direction = true;        // store under a random signed axis permutation
  double pathology_probability = 0.3;  // per body (a spreading infection can add its neighbour)
  double min_noise_sd = 0.01, max_noise_sd = 0.04;  // Rician noise, relative to marrow ~0.4
  double bias_strength = 0.25;         // max |log gain| of the smooth bias field
  void validate() const;
};

struct PhantomBody {
  int label = 0;          // 1 = most cranial
  std::string level;      // S1, L5, ...
  bool pathological = false;
  std::string findings;   // infection | tumour | fracture | endplate_erosion (';'-joined)
};

struct Phantom {
  Volume<int16_t> canonical_image;   // stored intensities (gain applied), canonical layout
  Volume<uint8_t> canonical_labels;  // instance labels, canonical layout
  Matrix3 stored_direction;          // direction the files are written with
  std::vector<PhantomBody> bodies;   // cranial first
};

Phantom make_phantom(uint64_t seed, const PhantomOptions& options = {});

// Writes a whole dataset in our format (dataset.json, vertebrae.csv, cases/phantom_NNN/...),
// built under a temporary name and renamed when complete. Case i depends only on (seed, i).
void write_phantom_dataset(const std::filesystem::path& out, int num_cases, uint64_t seed,
                           const PhantomOptions& options, bool overwrite,
                           const std::function<void(int done, int total)>& on_case = {});

}  // namespace spinescan
