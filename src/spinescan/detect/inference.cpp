#include "spinescan/detect/inference.h"

#include <torch/torch.h>

#include "spinescan/core/errors.h"

namespace spinescan::detect {

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    SPINESCAN_CHECK_AS(torch::cuda::is_available(), ConfigError, "--device cuda: this libtorch build has no usable GPU");
    return torch::kCUDA;
  }
  SPINESCAN_CHECK_AS(name == "auto", ConfigError, "--device must be cpu, cuda or auto, got '", name, "'");
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

torch::Tensor stack_images(const std::vector<const std::vector<float>*>& images, size_t start, size_t end, int size) {
  SPINESCAN_CHECK(start < end && end <= images.size(), "stack_images: no image in [", start, ", ", end, ")");
  const int64_t plane = static_cast<int64_t>(size) * size;
  const int64_t channels = static_cast<int64_t>(images[start]->size()) / plane;
  auto batch = torch::empty({static_cast<int64_t>(end - start), channels, size, size});
  for (size_t i = start; i < end; ++i) {
    SPINESCAN_CHECK(static_cast<int64_t>(images[i]->size()) == channels * plane, "detector input: images of different sizes");
    std::memcpy(batch[static_cast<int64_t>(i - start)].data_ptr<float>(), images[i]->data(), sizeof(float) * channels * plane);
  }
  return batch;
}

std::vector<const std::vector<float>*> detector_inputs(const std::vector<CanvasSlice>& slices, const CanvasOptions& canvas,
                                                       std::vector<std::vector<float>>& stacked) {
  std::vector<const std::vector<float>*> images;
  if (canvas.channels() > 1) {
    stacked.clear();
    stacked.reserve(slices.size());
    for (size_t i = 0; i < slices.size(); ++i) stacked.push_back(detector_input(slices, i, canvas));
    for (const auto& x : stacked) images.push_back(&x);
  } else {
    for (const auto& s : slices) images.push_back(&s.image);
  }
  return images;
}

std::vector<std::vector<eval::Prediction>> detect_images(RetinaNet& net, const std::vector<const std::vector<float>*>& images,
                                                         int size, int batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<eval::Prediction>> out;
  out.reserve(images.size());
  for (size_t start = 0; start < images.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(images.size(), start + static_cast<size_t>(batch_size));
    const auto batch = stack_images(images, start, end, size);
    const auto dets = net->postprocess(net->forward(batch.to(device)));
    for (const auto& d : dets) {
      const auto boxes = d.boxes.to(torch::kCPU).contiguous();
      const auto scores = d.scores.to(torch::kCPU).contiguous();
      std::vector<eval::Prediction> preds;
      for (int64_t k = 0; k < boxes.size(0); ++k) {
        const float* b = boxes[k].data_ptr<float>();
        preds.push_back({{b[0], b[1], b[2], b[3]}, scores[k].item<double>()});
      }
      out.push_back(std::move(preds));
    }
  }
  return out;
}

std::vector<eval::SliceResult> detect_canvas_slices(RetinaNet& net, const std::vector<CanvasSlice>& slices,
                                                    const CanvasOptions& canvas, const torch::Device& device) {
  std::vector<std::vector<float>> stacked;  // only with sagittal context
  const auto images = detector_inputs(slices, canvas, stacked);
  const auto preds = detect_images(net, images, canvas.size, kInferenceBatchSlices, device);
  std::vector<eval::SliceResult> results;
  for (size_t i = 0; i < slices.size(); ++i) results.push_back({slices[i].case_name, slices[i].slice, slices[i].truth, preds[i]});
  return results;
}

}  // namespace spinescan::detect
