#include "spinescan/detect/detect_study.h"

#include <torch/torch.h>

#include <algorithm>

#include "spinescan/detect/inference.h"
#include "spinescan/detect/slice_data.h"
#include "spinescan/detect/slice_linking.h"
#include "spinescan/detect/slice_schedule.h"
#include "spinescan/io/png.h"

namespace spinescan::detect {

StudyDetections detect_study(const std::filesystem::path& study, const std::filesystem::path& model,
                             const ReadOptions& read_options, const std::string& device_name) {
  LoadedDetector detector = load_detector(model, parse_device(device_name));
  return detect_loaded_study(detector, load_study(study, read_options), device_name);
}

StudyDetections detect_loaded_study(LoadedDetector& detector, const LoadedStudy& loaded, const std::string& device_name,
                                    int stop_after_empty_slices) {
  const torch::Device device = parse_device(device_name);
  StudyDetections out;
  out.info = loaded.info;
  out.normalized = normalize_for_detector(loaded.canonical);
  out.operating_score = detector.spec.operating_score;
  out.linked_score = detector.spec.linked_score;
  const int num_slices = static_cast<int>(out.normalized.size[2]);
  std::vector<CanvasSlice> slices(static_cast<size_t>(num_slices));
  std::vector<std::vector<eval::Prediction>> preds(static_cast<size_t>(num_slices));
  const SliceLinking linking{out.operating_score, out.linked_score};
  CentreOutSchedule schedule(num_slices, kInferenceBatchSlices, stop_after_empty_slices);
  const CanvasOptions& canvas = detector.spec.canvas;
  const double slice_mm = out.normalized.spacing_mm[2];
  auto canvas_slice = [&](int k) -> const CanvasSlice& {  // each slice resampled once, when first read
    CanvasSlice& s = slices[static_cast<size_t>(k)];
    if (s.image.empty()) s = make_canvas_slice(out.normalized, k, canvas);
    return s;
  };
  for (auto batch = schedule.next_batch(); !batch.empty(); batch = schedule.next_batch()) {
    std::vector<std::vector<float>> stacked;  // only with sagittal context
    std::vector<const std::vector<float>*> images;
    for (const int k : batch) {
      if (canvas.channels() == 1) {
        images.push_back(&canvas_slice(k).image);
        continue;
      }
      std::vector<float>& input = stacked.emplace_back();
      for (const int j : canvas.channel_slices(k, num_slices, slice_mm)) {
        const auto& image = canvas_slice(j).image;
        input.insert(input.end(), image.begin(), image.end());
      }
    }
    for (const auto& x : stacked) images.push_back(&x);
    auto batch_preds = detect_images(detector.net, images, canvas.size, static_cast<int>(batch.size()), device);
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& p = preds[static_cast<size_t>(batch[i])];
      p = std::move(batch_preds[i]);
      // A box the linking could keep counts: a faint lateral section still means "column here".
      schedule.record(batch[i], std::any_of(p.begin(), p.end(), [&](const eval::Prediction& x) { return x.score >= linking.floor_score(); }));
    }
  }
  out.slices_not_examined = schedule.skipped();
  const auto kept = link_across_slices(preds, linking);
  for (size_t k = 0; k < slices.size(); ++k)
    for (size_t i = 0; i < preds[k].size(); ++i) {
      if (!kept[k][i]) continue;
      const auto& p = preds[k][i];
      const auto& g = slices[k].geometry;
      out.detections.push_back({static_cast<int>(k),
                                {g.to_source_x(p.box.x1), g.to_source_y(p.box.y1), g.to_source_x(p.box.x2), g.to_source_y(p.box.y2)},
                                p.score, p.score < out.operating_score});
    }
  return out;
}

void write_detection_overlay(const std::filesystem::path& png, const StudyDetections& d, int slice) {
  const auto& v = d.normalized;
  const int cols = static_cast<int>(v.size[0]), rows = static_cast<int>(v.size[1]);
  // Square pixels on screen: stretch rows by the spacing ratio; 2x for small matrices.
  const double zoom = std::max(1.0, 512.0 / std::max(cols, rows));
  const double aspect = v.spacing_mm[1] / v.spacing_mm[0];
  const int w = static_cast<int>(cols * zoom), h = static_cast<int>(rows * zoom * aspect);
  RgbImage image(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int sx = std::min(cols - 1, static_cast<int>(x / zoom)), sy = std::min(rows - 1, static_cast<int>(y / zoom / aspect));
      const auto g = static_cast<uint8_t>(std::clamp(v.at(sx, sy, slice), 0.0f, 1.0f) * 255);
      image.set(x, y, g, g, g);
    }
  for (const auto& det : d.detections)
    if (det.slice == slice)
      image.draw_rect(static_cast<int>(det.box.x1 * zoom), static_cast<int>(det.box.y1 * zoom * aspect), static_cast<int>(det.box.x2 * zoom) - 1,
                      static_cast<int>(det.box.y2 * zoom * aspect) - 1, 255, 140, 0, 2);
  write_png(png, image);
}

}  // namespace spinescan::detect
