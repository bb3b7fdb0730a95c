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
      if (slice - tracks[t].last_slice() > o.max_gap + 1) continue;
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
        if (disjoint && std::abs(ta.centre_y() - tb.centre_y()) < o.merge_distance * height &&
            std::abs(ta.centre_x() - tb.centre_x()) < o.merge_distance * height) {
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
  std::stable_sort(tracks.begin(), tracks.end(), [](const Track& a, const Track& b) { return a.centre_y() < b.centre_y(); });
  return tracks;
}

}  // namespace spinescan::aggregate
