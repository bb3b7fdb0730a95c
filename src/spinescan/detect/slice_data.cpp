#include "spinescan/detect/slice_data.h"

#include <algorithm>
#include <map>

#include "spinescan/core/errors.h"
#include "spinescan/core/rng.h"
#include "spinescan/data/boxes.h"
#include "spinescan/io/normalize.h"
#include "spinescan/io/orientation.h"
#include "spinescan/io/study_reader.h"

namespace spinescan::detect {

Volume<float> normalize_for_detector(const Volume<float>& canonical) {
  NormalizeOptions o;
  o.per_slice = true;
  return normalize_intensity(canonical, o);
}

CanvasSlice make_canvas_slice(const Volume<float>& v, int slice, const CanvasOptions& canvas) {
  CanvasSlice s;
  s.slice = slice;
  s.volume_slices = static_cast<int>(v.size[2]);
  s.slice_mm = v.spacing_mm[2];
  const int64_t cols = v.size[0], rows = v.size[1];
  s.geometry = canvas_geometry(cols, rows, v.spacing_mm[0], v.spacing_mm[1], canvas);
  s.image = resample_to_canvas(v.voxels.data() + slice * cols * rows, cols, rows, s.geometry, canvas.size);
  return s;
}

int64_t find_case_slice(const std::vector<CanvasSlice>& slices, size_t index, int slice) {
  const CanvasSlice& from = slices.at(index);
  const int64_t step = slice >= from.slice ? 1 : -1;
  for (auto j = static_cast<int64_t>(index); j >= 0 && j < static_cast<int64_t>(slices.size()); j += step) {
    const CanvasSlice& s = slices[static_cast<size_t>(j)];
    if (s.case_name != from.case_name || (s.slice - slice) * step > 0) break;
    if (s.slice == slice) return j;
  }
  return -1;
}

std::vector<size_t> channel_indices(const std::vector<CanvasSlice>& slices, size_t index, const CanvasOptions& canvas) {
  const CanvasSlice& centre = slices.at(index);
  std::vector<size_t> out;
  for (const int k : canvas.channel_slices(centre.slice, centre.volume_slices, centre.slice_mm)) {
    const int64_t j = find_case_slice(slices, index, k);
    out.push_back(j < 0 ? index : static_cast<size_t>(j));
  }
  return out;
}

std::vector<float> detector_input(const std::vector<CanvasSlice>& slices, size_t index, const CanvasOptions& canvas) {
  const size_t n = slices.at(index).image.size();
  std::vector<float> out;
  out.reserve(n * static_cast<size_t>(canvas.channels()));
  for (const size_t j : channel_indices(slices, index, canvas)) {
    const auto& image = slices[j].image;
    SPINESCAN_CHECK(image.size() == n, "detector_input: slices of one case on different canvases");
    out.insert(out.end(), image.begin(), image.end());
  }
  return out;
}

namespace {

float volume_gain(const Volume<float>& per_slice, const Volume<float>& per_volume, int slice) {
  const int64_t n = per_slice.size[0] * per_slice.size[1];
  double sum_slice = 0, sum_volume = 0;
  for (int64_t i = slice * n; i < (slice + 1) * n; ++i) {
    sum_slice += per_slice.voxels[static_cast<size_t>(i)];
    sum_volume += per_volume.voxels[static_cast<size_t>(i)];
  }
  if (sum_slice <= 0) return 1;
  // A blank slice scaled on its own can be amplified arbitrarily: bound the ratio.
  return static_cast<float>(std::clamp(sum_volume / sum_slice, 0.25, 4.0));
}

}  // namespace

std::vector<CanvasSlice> load_canvas_slices(const Dataset& d, const std::vector<std::string>& cases,
                                            const SliceDataOptions& o, const std::function<void(size_t, size_t)>& on_case) {
  std::vector<CanvasSlice> out;
  size_t done = 0;
  for (const auto& name : cases) {
    const CaseEntry& c = d.case_named(name);
    const LoadedStudy study = load_study(c.image);
    const Volume<float> normalized = normalize_for_detector(study.canonical);
    const Volume<float> per_volume = normalize_intensity(study.canonical);
    const Volume<uint16_t> labels = to_canonical(read_label_volume(c.labels));
    SPINESCAN_CHECK(labels.size == normalized.size, c.labels.string(), ": label volume not on the image grid");
    std::map<int, bool> pathological;
    for (const auto& r : d.rows_of(name)) pathological[r.label] = r.pathological.value_or(false);
    const auto boxes = boxes_per_slice(labels);
    const double pixel_area_mm2 = labels.spacing_mm[0] * labels.spacing_mm[1];
    const int64_t cols = labels.size[0], rows = labels.size[1];
    for (int k = 0; k < static_cast<int>(labels.size[2]); ++k) {
      if (boxes[static_cast<size_t>(k)].empty() && !o.include_empty_slices) continue;
      CanvasSlice s = make_canvas_slice(normalized, k, o.canvas);
      s.case_name = name;
      s.volume_gain = volume_gain(normalized, per_volume, k);
      s.labels = labels_to_canvas(labels.voxels.data() + static_cast<int64_t>(k) * cols * rows, cols, rows, s.geometry,
                                  o.canvas.size);
      for (const auto& b : boxes[static_cast<size_t>(k)]) {
        eval::GroundTruth g;
        const auto& geo = s.geometry;
        g.box = {geo.to_canvas_x(b.box.x1), geo.to_canvas_y(b.box.y1), geo.to_canvas_x(b.box.x2), geo.to_canvas_y(b.box.y2)};
        g.pathological = pathological[b.label];
        g.ignore = b.area_px * pixel_area_mm2 < o.min_body_area_mm2;
        s.truth.push_back(g);
        s.truth_labels.push_back(b.label);
      }
      out.push_back(std::move(s));
    }
    if (on_case) on_case(++done, cases.size());
  }
  return out;
}

std::vector<std::vector<double>> section_shares(const std::vector<CanvasSlice>& slices) {
  std::vector<std::map<int, int64_t>> area_px(slices.size());
  std::map<std::pair<std::string, int>, int64_t> largest_px;  // (case, body label) -> largest section
  for (size_t i = 0; i < slices.size(); ++i) {
    for (const uint8_t label : slices[i].labels)
      if (label) ++area_px[i][label];
    for (const auto& [label, px] : area_px[i]) {
      auto& largest = largest_px[{slices[i].case_name, label}];
      largest = std::max(largest, px);
    }
  }
  std::vector<std::vector<double>> shares(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    for (const int label : slices[i].truth_labels) {
      const auto largest = largest_px.find({slices[i].case_name, label});
      const auto px = area_px[i].find(label);
      const bool seen = largest != largest_px.end() && largest->second > 0 && px != area_px[i].end();
      shares[i].push_back(seen ? static_cast<double>(px->second) / static_cast<double>(largest->second) : 0.0);
    }
  }
  return shares;
}

DrawPool make_draw_pool(const std::vector<CanvasSlice>& slices) {
  const auto shares = section_shares(slices);
  std::map<std::string, std::vector<size_t>> with_body, side_by_case;
  DrawPool pool;
  for (size_t i = 0; i < slices.size(); ++i) {
    bool any = false, side = false;
    for (size_t t = 0; t < slices[i].truth.size(); ++t) {
      if (slices[i].truth[t].ignore) continue;
      any = true;
      side |= shares[i][t] < 0.5;
    }
    if (any) with_body[slices[i].case_name].push_back(i);
    else pool.empty.push_back(i);
    if (side) side_by_case[slices[i].case_name].push_back(i);
  }
  SPINESCAN_CHECK(!with_body.empty(), "no training slice holds a vertebral body");
  for (auto& [name, idx] : with_body) pool.with_body_by_case.push_back(std::move(idx));
  for (auto& [name, idx] : side_by_case) pool.side_by_case.push_back(std::move(idx));
  return pool;
}

std::vector<size_t> draw_training_slices(const DrawPool& pool, int count, double empty_fraction, double side_fraction,
                                         Rng& rng) {
  SPINESCAN_CHECK(!pool.with_body_by_case.empty(), "no training slice holds a vertebral body");
  std::vector<size_t> out;
  for (int i = 0; i < count; ++i) {
    if (!pool.empty.empty() && rng.chance(empty_fraction)) {
      out.push_back(pool.empty[rng.below(pool.empty.size())]);
      continue;
    }
    // No side slice, or no preference: no random number drawn, the stream stays the plain one.
    const bool from_side = !pool.side_by_case.empty() && side_fraction > 0 && rng.chance(side_fraction);
    const auto& cases = from_side ? pool.side_by_case : pool.with_body_by_case;
    const auto& idx = cases[rng.below(cases.size())];
    out.push_back(idx[rng.below(idx.size())]);
  }
  return out;
}

std::vector<ops::Box> boxes_from_label_map(const uint8_t* labels, int size, int64_t min_area_px) {
  struct Extent {
    int x1 = 1 << 30, y1 = 1 << 30, x2 = -1, y2 = -1;
    int64_t area = 0;
  };
  std::map<int, Extent> extents;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const int l = labels[static_cast<size_t>(y) * size + x];
      if (!l) continue;
      Extent& e = extents[l];
      e.x1 = std::min(e.x1, x);
      e.y1 = std::min(e.y1, y);
      e.x2 = std::max(e.x2, x + 1);
      e.y2 = std::max(e.y2, y + 1);
      ++e.area;
    }
  std::vector<ops::Box> out;
  for (const auto& [label, e] : extents)
    if (e.area >= min_area_px) out.push_back({double(e.x1), double(e.y1), double(e.x2), double(e.y2)});
  return out;
}

}  // namespace spinescan::detect
