#include "spinescan/aggregate/tracks.h"

#include <algorithm>
#include <cmath>

namespace spinescan::aggregate {

double Track::centre_x() const {
  double sum = 0, weight = 0;
  for (const auto& b : boxes) {
    sum += b.score * b.box.centre_x();
    weight += b.score;
  }
  return weight > 0 ? sum / weight : boxes.front().box.centre_x();
}

double Track::centre_y() const {
  double sum = 0, weight = 0;
  for (const auto& b : boxes) {
    sum += b.score * b.box.centre_y();
    weight += b.score;
  }
  return weight > 0 ? sum / weight : boxes.front().box.centre_y();
}

const TrackedBox& Track::largest() const {
  return *std::max_element(boxes.begin(), boxes.end(), [](const TrackedBox& a, const TrackedBox& b) {
    return a.box.area() < b.box.area();
  });
}

const TrackedBox* Track::on_slice(int slice) const {
  for (const auto& b : boxes)
    if (b.slice == slice) return &b;
  return nullptr;
}

std::vector<TrackedBox> central_boxes(const Track& track) {
  if (track.boxes.empty()) return {};
  const double largest = track.largest().box.area();
  std::vector<TrackedBox> out;
  for (const auto& b : track.boxes)
    if (b.box.area() >= 0.5 * largest) out.push_back(b);
  return out;
}

std::vector<Track> link_tracks(std::vector<TrackedBox> boxes, const LinkOptions& o) {
  std::stable_sort(boxes.begin(), boxes.end(), [](const TrackedBox& a, const TrackedBox& b) { return a.slice < b.slice; });
  std::vector<Track> tracks;
  for (size_t i = 0; i < boxes.size();) {
    size_t j = i;
    while (j < boxes.size() && boxes[j].slice == boxes[i].slice) ++j;
    const int slice = boxes[i].slice;
    // Candidate links: (IoU, track, box) for tracks that ended within the allowed gap.
    struct Link {
      double iou;
      size_t track, box;
    };
    std::vector<Link> links;
    for (size_t t = 0; t < tracks.size(); ++t) {
      if (slice - tracks[t].last_slice() > o.max_gap_slices + 1) continue;
      for (size_t b = i; b < j; ++b) {
        const double iou = ops::iou(tracks[t].boxes.back().box, boxes[b].box);
        if (iou >= o.min_iou) links.push_back({iou, t, b});
      }
    }
    std::stable_sort(links.begin(), links.end(), [](const Link& a, const Link& b) { return a.iou > b.iou; });
    std::vector<bool> track_used(tracks.size(), false), box_used(j - i, false);
    for (const auto& l : links) {
      if (track_used[l.track] || box_used[l.box - i]) continue;
      track_used[l.track] = box_used[l.box - i] = true;
      tracks[l.track].boxes.push_back(boxes[l.box]);
    }
    for (size_t b = i; b < j; ++b)
      if (!box_used[b - i]) tracks.push_back(Track{{boxes[b]}});
    i = j;
  }
  // A body the detector lost for more than the gap comes back as a second track at the same
  // height on other slices: merge those.
  std::stable_sort(tracks.begin(), tracks.end(), [](const Track& a, const Track& b) { return a.centre_y() < b.centre_y(); });
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t a = 0; a < tracks.size() && !merged; ++a)
      for (size_t b = a + 1; b < tracks.size() && !merged; ++b) {
        const auto& ta = tracks[a];
        const auto& tb = tracks[b];
        const bool disjoint = ta.last_slice() < tb.first_slice() || tb.last_slice() < ta.first_slice();
        const double height = 0.5 * (ta.largest().box.height() + tb.largest().box.height());
        if (disjoint && std::abs(ta.centre_y() - tb.centre_y()) < o.merge_distance_body_heights * height &&
            std::abs(ta.centre_x() - tb.centre_x()) < o.merge_distance_body_heights * height) {
          Track m = ta;
          m.boxes.insert(m.boxes.end(), tb.boxes.begin(), tb.boxes.end());
          std::stable_sort(m.boxes.begin(), m.boxes.end(), [](const TrackedBox& x, const TrackedBox& y) { return x.slice < y.slice; });
          tracks[a] = m;
          tracks.erase(tracks.begin() + static_cast<std::ptrdiff_t>(b));
          merged = true;
        }
      }
  }
  tracks.erase(std::remove_if(tracks.begin(), tracks.end(),
                              [&](const Track& t) { return static_cast<int>(t.boxes.size()) < o.min_slices; }),
               tracks.end());
  tracks = keep_spinal_column(std::move(tracks), o);
  std::stable_sort(tracks.begin(), tracks.end(), [](const Track& a, const Track& b) { return a.centre_y() < b.centre_y(); });
  return tracks;
}

std::vector<Track> keep_spinal_column(std::vector<Track> tracks, const LinkOptions& o) {
  if (tracks.size() < 3) return tracks;
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  std::vector<double> lengths;
  for (const auto& t : tracks) lengths.push_back(static_cast<double>(t.boxes.size()));
  const double typical_length = median(lengths);
  // The midline: the middle slice of the bodies of typical extent.
  std::vector<double> middles;
  for (const auto& t : tracks)
    if (t.boxes.size() >= typical_length) middles.push_back((t.first_slice() + t.last_slice()) / 2.0);
  const double midline = median(middles);
  // Two tracks over one body: the detector kept two overlapping boxes on some slices (a
  // fractured or wedged body, a body and its endplate) and linking made two tracks. The one
  // with less detector evidence goes; otherwise it would shift every level name above it.
  auto evidence = [](const Track& t) {
    double sum = 0;
    for (const auto& b : t.boxes) sum += b.score;
    return sum;
  };
  std::vector<bool> duplicate(tracks.size(), false);
  for (size_t a = 0; a < tracks.size(); ++a)
    for (size_t b = a + 1; b < tracks.size(); ++b) {
      double iou_sum = 0;
      int shared = 0;
      for (const auto& x : tracks[a].boxes)
        for (const auto& y : tracks[b].boxes)
          if (x.slice == y.slice) iou_sum += ops::iou(x.box, y.box), ++shared;
      if (shared == 0 || iou_sum / shared < o.duplicate_iou) continue;
      duplicate[evidence(tracks[a]) < evidence(tracks[b]) ? a : b] = true;
    }
  for (size_t i = tracks.size(); i-- > 0;)
    if (duplicate[i]) tracks.erase(tracks.begin() + static_cast<std::ptrdiff_t>(i));
  tracks.erase(std::remove_if(tracks.begin(), tracks.end(),
                              [&](const Track& t) {
                                const bool short_track = t.boxes.size() < o.min_length_fraction * typical_length;
                                // By the boxes it has, not by its span: a track merged from two
                                // lateral pieces (the merge above) spans the midline with no box near it.
                                const bool off_midline = std::none_of(t.boxes.begin(), t.boxes.end(), [&](const TrackedBox& b) {
                                  return std::abs(b.slice - midline) <= o.midline_margin_slices;
                                });
                                return short_track || off_midline;
                              }),
               tracks.end());
  return tracks;
}

}  // namespace spinescan::aggregate
