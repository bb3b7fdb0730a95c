#include "spinescan/aggregate/tracks.h"

#include <algorithm>
#include <cmath>

namespace spinescan::aggregate {

double box_iou(const TrackedBox& a, const TrackedBox& b) {
  const double w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1), h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

double Track::centre_x() const {
  double sum = 0, weight = 0;
  for (const auto& b : boxes) {
    sum += b.score * 0.5 * (b.x1 + b.x2);
    weight += b.score;
  }
  return weight > 0 ? sum / weight : 0.5 * (boxes.front().x1 + boxes.front().x2);
}

double Track::centre_y() const {
  double sum = 0, weight = 0;
  for (const auto& b : boxes) {
    sum += b.score * 0.5 * (b.y1 + b.y2);
    weight += b.score;
  }
  return weight > 0 ? sum / weight : 0.5 * (boxes.front().y1 + boxes.front().y2);
}

const TrackedBox& Track::largest() const {
  return *std::max_element(boxes.begin(), boxes.end(), [](const TrackedBox& a, const TrackedBox& b) {
    return (a.x2 - a.x1) * (a.y2 - a.y1) < (b.x2 - b.x1) * (b.y2 - b.y1);
  });
}

std::vector<TrackedBox> central_boxes(const Track& track) {
  if (track.boxes.empty()) return {};
  const auto area = [](const TrackedBox& b) { return (b.x2 - b.x1) * (b.y2 - b.y1); };
  const double largest = area(track.largest());
  std::vector<TrackedBox> out;
  for (const auto& b : track.boxes)
    if (area(b) >= 0.5 * largest) out.push_back(b);
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
        const double iou = box_iou(tracks[t].boxes.back(), boxes[b]);
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
        const double height = 0.5 * ((ta.largest().y2 - ta.largest().y1) + (tb.largest().y2 - tb.largest().y1));
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
          if (x.slice == y.slice) iou_sum += box_iou(x, y), ++shared;
      if (shared == 0 || iou_sum / shared < o.duplicate_iou) continue;
      duplicate[evidence(tracks[a]) < evidence(tracks[b]) ? a : b] = true;
    }
  for (size_t i = tracks.size(); i-- > 0;)
    if (duplicate[i]) tracks.erase(tracks.begin() + static_cast<std::ptrdiff_t>(i));
  tracks.erase(std::remove_if(tracks.begin(), tracks.end(),
                              [&](const Track& t) {
                                const bool short_track = t.boxes.size() < o.min_length_fraction * typical_length;
                                const bool off_midline = t.first_slice() - o.midline_margin_slices > midline ||
                                                         t.last_slice() + o.midline_margin_slices < midline;
                                return short_track || off_midline;
                              }),
               tracks.end());
  return tracks;
}

}  // namespace spinescan::aggregate
