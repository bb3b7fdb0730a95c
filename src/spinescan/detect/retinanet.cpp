#include "spinescan/detect/retinanet.h"

#include <torch/torch.h>

#include "spinescan/core/errors.h"
#include "spinescan/ops/box_ops.h"

namespace spinescan::detect {

void RetinaNetOptions::validate() const {
  fpn.validate();
  anchors.validate();
  matcher.validate();
  SPINESCAN_CHECK_AS(static_cast<int>(anchors.strides.size()) == fpn.max_level - fpn.min_level + 1, ConfigError,
                     "one anchor level per FPN level needed: ", anchors.strides.size(), " anchor levels for P",
                     fpn.min_level, "..P", fpn.max_level);
  for (size_t i = 0; i < anchors.strides.size(); ++i)
    SPINESCAN_CHECK_AS(anchors.strides[i] == (1 << (fpn.min_level + static_cast<int>(i))), ConfigError,
                       "anchor stride ", anchors.strides[i], " does not match P", fpn.min_level + i);
  SPINESCAN_CHECK_AS(head.num_anchors == anchors.anchors_per_location(), ConfigError, "head has ", head.num_anchors,
                     " anchors per location, the anchor generator ", anchors.anchors_per_location());
  SPINESCAN_CHECK_AS(head.in_channels == fpn.out_channels, ConfigError, "head width must equal FPN width");
  SPINESCAN_CHECK_AS(box_loss == "smooth_l1" || box_loss == "l1" || box_loss == "giou", ConfigError,
                     "box_loss must be smooth_l1, l1 or giou, got '", box_loss, "'");
}

nlohmann::json RetinaNetOptions::to_json() const {
  return {{"backbone", {{"in_channels", backbone.in_channels}, {"widths", backbone.widths}, {"blocks", backbone.blocks}}},
          {"fpn", {{"out_channels", fpn.out_channels}, {"min_level", fpn.min_level}, {"max_level", fpn.max_level}}},
          {"head",
           {{"num_convs", head.num_convs},
            {"num_classes", head.num_classes},
            {"prior_probability", head.prior_probability},
            {"group_norm_groups", head.group_norm_groups}}},
          {"anchors",
           {{"strides", anchors.strides},
            {"sizes", anchors.sizes},
            {"scales", anchors.scales},
            {"aspect_ratios", anchors.aspect_ratios}}},
          {"matcher", {{"fg_iou", matcher.fg_iou}, {"bg_iou", matcher.bg_iou}, {"allow_low_quality", matcher.allow_low_quality}}},
          {"focal_alpha", focal_alpha},
          {"focal_gamma", focal_gamma},
          {"box_loss", box_loss},
          {"smooth_l1_beta", smooth_l1_beta},
          {"score_threshold", score_threshold},
          {"topk_candidates", topk_candidates},
          {"nms_threshold", nms_threshold},
          {"detections_per_image", detections_per_image}};
}

RetinaNetOptions RetinaNetOptions::from_json(const nlohmann::json& j) {
  RetinaNetOptions o;
  try {
    const auto& b = j.at("backbone");
    o.backbone.in_channels = b.at("in_channels");
    o.backbone.widths = b.at("widths").get<std::array<int, 4>>();
    o.backbone.blocks = b.at("blocks").get<std::array<int, 4>>();
    o.fpn.out_channels = j.at("fpn").at("out_channels");
    o.fpn.min_level = j.at("fpn").at("min_level");
    o.fpn.max_level = j.at("fpn").at("max_level");
    o.fpn.in_channels = {o.backbone.widths[1], o.backbone.widths[2], o.backbone.widths[3]};
    o.head.in_channels = o.fpn.out_channels;
    o.head.num_convs = j.at("head").at("num_convs");
    o.head.num_classes = j.at("head").at("num_classes");
    o.head.prior_probability = j.at("head").at("prior_probability");
    o.head.group_norm_groups = j.at("head").at("group_norm_groups");
    o.anchors.strides = j.at("anchors").at("strides").get<std::vector<int>>();
    o.anchors.sizes = j.at("anchors").at("sizes").get<std::vector<double>>();
    o.anchors.scales = j.at("anchors").at("scales").get<std::vector<double>>();
    o.anchors.aspect_ratios = j.at("anchors").at("aspect_ratios").get<std::vector<double>>();
    o.head.num_anchors = o.anchors.anchors_per_location();
    o.matcher.fg_iou = j.at("matcher").at("fg_iou");
    o.matcher.bg_iou = j.at("matcher").at("bg_iou");
    o.matcher.allow_low_quality = j.at("matcher").at("allow_low_quality");
    o.focal_alpha = j.at("focal_alpha");
    o.focal_gamma = j.at("focal_gamma");
    o.box_loss = j.at("box_loss");
    o.smooth_l1_beta = j.at("smooth_l1_beta");
    o.score_threshold = j.at("score_threshold");
    o.topk_candidates = j.at("topk_candidates");
    o.nms_threshold = j.at("nms_threshold");
    o.detections_per_image = j.at("detections_per_image");
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(std::string("detector options: ") + e.what());
  }
  o.validate();
  return o;
}

RetinaNetImpl::RetinaNetImpl(const RetinaNetOptions& o) : options_(o) {
  options_.fpn.in_channels = {o.backbone.widths[1], o.backbone.widths[2], o.backbone.widths[3]};
  options_.head.in_channels = options_.fpn.out_channels;
  options_.head.num_anchors = options_.anchors.anchors_per_location();
  options_.validate();
  backbone = register_module("backbone", models::ResNet(options_.backbone));
  fpn = register_module("fpn", models::Fpn(options_.fpn));
  head = register_module("head", models::RetinaNetHead(options_.head));
}

void RetinaNetImpl::use_bfloat16() {
  TORCH_CHECK(!is_training() && batch_norms_folded(), "RetinaNet::use_bfloat16: for a folded net in eval mode only");
  // The folded biases are buffers (models/resnet.cpp, fold_into), so to() converts them too.
  to(torch::kBFloat16);
  compute_dtype_ = torch::kBFloat16;
}

std::vector<models::ActivationRange*> RetinaNetImpl::int8_range_points() {
  std::vector<models::ActivationRange*> points;
  backbone->int8_ranges(points);
  fpn->int8_ranges(points);
  head->int8_ranges(points);
  return points;
}

void RetinaNetImpl::calibrate_int8(const std::vector<torch::Tensor>& calibration_images) {
  TORCH_CHECK(!int8_ && batch_norms_folded() && compute_dtype_ == torch::kFloat,
              "RetinaNet::calibrate_int8: a folded float net only");
  TORCH_CHECK(!calibration_images.empty(), "RetinaNet::calibrate_int8: no calibration batch");
  for (auto* range : int8_range_points()) *range = models::ActivationRange{};
  torch::NoGradGuard no_grad;
  models::Int8RangeRecording recording;
  for (const auto& x : calibration_images) head(fpn(backbone(x)));
}

nlohmann::json RetinaNetImpl::int8_ranges() {
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto* range : int8_range_points()) {
    TORCH_CHECK(range->seen, "RetinaNet::int8_ranges: not calibrated");
    ranges.push_back({range->min, range->max});
  }
  return ranges;
}

void RetinaNetImpl::set_int8_ranges(const nlohmann::json& ranges) {
  auto points = int8_range_points();
  SPINESCAN_CHECK_AS(ranges.is_array() && ranges.size() == points.size(), ModelError, "8-bit ranges: the detector has ",
                     points.size(), " quantization points, ", ranges.is_array() ? ranges.size() : 0, " ranges are given");
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& r = ranges[i];
    SPINESCAN_CHECK_AS(r.is_array() && r.size() == 2 && r[0].is_number() && r[1].is_number() && r[0] <= r[1], ModelError,
                       "8-bit ranges: entry ", i, " is not [min, max]: ", r.dump());
    *points[i] = {r[0].get<float>(), r[1].get<float>(), true};
  }
}

void RetinaNetImpl::quantize_int8() {
  TORCH_CHECK(!int8_ && batch_norms_folded() && compute_dtype_ == torch::kFloat, "RetinaNet::quantize_int8: a folded float net only");
  backbone->quantize_int8();
  fpn->quantize_int8();
  head->quantize_int8();
  int8_ = true;
}

HeadOutputs RetinaNetImpl::forward(const torch::Tensor& images) {
  HeadOutputs out;
  std::vector<torch::Tensor> levels;
  if (int8_) {
    levels = fpn->forward_int8(backbone->forward_int8(images));
    std::tie(out.class_logits, out.box_deltas) = head->forward_int8(levels);
  } else {
    levels = fpn(backbone(images.to(compute_dtype_)));  // no copy when already that type
    std::tie(out.class_logits, out.box_deltas) = head(levels);
  }
  if (compute_dtype_ != torch::kFloat) {
    out.class_logits = out.class_logits.to(torch::kFloat);
    out.box_deltas = out.box_deltas.to(torch::kFloat);
  }
  std::vector<std::pair<int64_t, int64_t>> sizes;
  std::vector<int64_t> key;
  for (const auto& l : levels) {
    sizes.push_back({l.size(2), l.size(3)});
    key.insert(key.end(), {l.size(2), l.size(3)});
    out.anchors_per_level.push_back(l.size(2) * l.size(3) * options_.anchors.anchors_per_location());
  }
  auto it = anchor_cache_.find(key);
  if (it == anchor_cache_.end() || it->second.device() != images.device())
    it = anchor_cache_.insert_or_assign(key, make_anchors(options_.anchors, sizes).to(images.device())).first;
  out.anchors = it->second;
  return out;
}

LossTerms RetinaNetImpl::loss(const HeadOutputs& out, const std::vector<torch::Tensor>& target_boxes,
                              const std::vector<torch::Tensor>& target_labels) const {
  const int64_t n = out.class_logits.size(0);
  SPINESCAN_CHECK_AS(static_cast<int64_t>(target_boxes.size()) == n && target_labels.size() == target_boxes.size(),
                     ModelError, "loss: ", target_boxes.size(), " targets for ", n, " images");
  auto cls_loss = torch::zeros({}, out.class_logits.options());
  auto box_loss = torch::zeros({}, out.class_logits.options());
  int64_t num_foreground = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto& gt = target_boxes[i];
    const auto matches = gt.size(0) ? match_anchors(ops::box_iou(gt, out.anchors), options_.matcher)
                                    : torch::full({out.anchors.size(0)}, kBackground, torch::kLong);
    const auto fg = matches >= 0;
    const auto valid = matches != kIgnored;
    const int64_t nfg = fg.sum().item<int64_t>();
    num_foreground += nfg;
    // One-hot class targets; ignored anchors take no part.
    auto cls_target = torch::zeros_like(out.class_logits[i]);
    if (nfg > 0) {
      const auto fg_idx = fg.nonzero().squeeze(1);
      const auto fg_labels = target_labels[i].index_select(0, matches.index_select(0, fg_idx));
      cls_target.index_put_({fg_idx, fg_labels}, 1.0);
    }
    cls_loss = cls_loss + ops::sigmoid_focal_loss(out.class_logits[i].index({valid}), cls_target.index({valid}),
                                                  options_.focal_alpha, options_.focal_gamma);
    if (nfg == 0) continue;
    const auto fg_idx = fg.nonzero().squeeze(1);
    const auto anchors = out.anchors.index_select(0, fg_idx);
    const auto matched = gt.index_select(0, matches.index_select(0, fg_idx));
    const auto pred = out.box_deltas[i].index_select(0, fg_idx);
    if (options_.box_loss == "giou") {
      const auto decoded = decode_boxes(pred, anchors, options_.box_coder);
      box_loss = box_loss + (1 - ops::generalized_box_iou(decoded, matched)).sum();
    } else {
      const auto target = encode_boxes(matched, anchors, options_.box_coder);
      box_loss = box_loss + (options_.box_loss == "l1"
                                 ? torch::l1_loss(pred, target, at::Reduction::Sum)
                                 : torch::smooth_l1_loss(pred, target, at::Reduction::Sum, options_.smooth_l1_beta));
    }
  }
  // Normalise by foreground anchors over the batch (at least 1), as the focal-loss paper.
  const double norm = std::max<int64_t>(1, num_foreground);
  return {cls_loss / norm, box_loss / norm};
}

std::vector<Detections> RetinaNetImpl::postprocess(const HeadOutputs& out) const {
  torch::NoGradGuard no_grad;
  std::vector<Detections> result;
  const int64_t n = out.class_logits.size(0), k = out.class_logits.size(2);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<torch::Tensor> boxes, scores, labels;
    int64_t start = 0;
    for (int64_t count : out.anchors_per_level) {
      const auto logits = out.class_logits[i].slice(0, start, start + count).flatten();  // [count * K]
      auto s = torch::sigmoid(logits);
      auto keep = (s > options_.score_threshold).nonzero().squeeze(1);
      auto kept_scores = s.index_select(0, keep);
      const int64_t topk = std::min<int64_t>(options_.topk_candidates, keep.size(0));
      const auto [top_scores, top_idx] = kept_scores.topk(topk);
      keep = keep.index_select(0, top_idx);
      const auto anchor_idx = torch::div(keep, k, "floor") + start;
      boxes.push_back(decode_boxes(out.box_deltas[i].index_select(0, anchor_idx), out.anchors.index_select(0, anchor_idx),
                                   options_.box_coder));
      scores.push_back(top_scores);
      labels.push_back(keep.remainder(k));
      start += count;
    }
    auto b = torch::cat(boxes), s = torch::cat(scores), l = torch::cat(labels);
    auto keep = ops::batched_nms(b, s, l, options_.nms_threshold);
    keep = keep.slice(0, 0, options_.detections_per_image);
    result.push_back({b.index_select(0, keep), s.index_select(0, keep), l.index_select(0, keep)});
  }
  return result;
}

}  // namespace spinescan::detect
