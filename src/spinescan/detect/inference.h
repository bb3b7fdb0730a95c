#pragma once
// Running the detector on canvas slices, batched.
#include <string>
#include <vector>

#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/eval/detection_metrics.h"

namespace spinescan::detect {

// "cpu", "cuda" or "auto" (CUDA when this libtorch build sees a GPU). Throws ConfigError for
// another name, or for "cuda" without a usable GPU.
torch::Device parse_device(const std::string& name);

// Detections (canvas pixels, every candidate above the model's score floor) per image.
// Slices per forward pass at inference. On 2 CPU cores 8 was 5-10 % faster than 16 (the
// feature maps of a smaller batch stay in cache) and peaks 40 MiB lower (docs/benchmarks.md).
constexpr int kInferenceBatchSlices = 8;

// The net's input per slice: the slice's own image, or with sagittal context its channels
// stacked into `stacked` (detector_input), which must outlive the pointers.
std::vector<const std::vector<float>*> detector_inputs(const std::vector<CanvasSlice>& slices, const CanvasOptions& canvas,
                                                       std::vector<std::vector<float>>& stacked);
// images[start, end) as one [end - start, channels, size, size] float batch.
torch::Tensor stack_images(const std::vector<const std::vector<float>*>& images, size_t start, size_t end, int size);

// images: each the net's input channels x size x size floats (detector_input). Runs under
// NoGradGuard in batches of `batch_size`.
std::vector<std::vector<eval::Prediction>> detect_images(RetinaNet& net, const std::vector<const std::vector<float>*>& images,
                                                         int size, int batch_size, const torch::Device& device);

// Detections on canvas slices paired with their ground truth, ready for eval::summarize_detection.
std::vector<eval::SliceResult> detect_canvas_slices(RetinaNet& net, const std::vector<CanvasSlice>& slices,
                                                    const CanvasOptions& canvas, const torch::Device& device);

}  // namespace spinescan::detect
