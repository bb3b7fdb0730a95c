#include "spinescan/models/retinanet_head.h"

#include <torch/torch.h>

#include <cmath>

#include "spinescan/models/initial_weights.h"

namespace spinescan::models {

namespace nn = torch::nn;

namespace {
nn::Sequential tower(const RetinaNetHeadOptions& o) {
  nn::Sequential t;
  for (int i = 0; i < o.num_convs; ++i) {
    t->push_back(nn::Conv2d(nn::Conv2dOptions(o.in_channels, o.in_channels, 3).padding(1)));
    if (o.group_norm_groups > 0) t->push_back(nn::GroupNorm(o.group_norm_groups, o.in_channels));
    t->push_back(nn::ReLU());
  }
  return t;
}

// [N, A*K, H, W] -> [N, H*W*A, K]
torch::Tensor flatten_level(const torch::Tensor& x, int64_t k) {
  const auto n = x.size(0), h = x.size(2), w = x.size(3);
  return x.view({n, -1, k, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, k});
}
}  // namespace

RetinaNetHeadImpl::RetinaNetHeadImpl(const RetinaNetHeadOptions& o) : options_(o) {
  for (auto& t : int8_towers_) {
    t.conv_range.resize(static_cast<size_t>(o.num_convs));
    t.block_range.resize(static_cast<size_t>(o.num_convs));
  }
  cls_tower = register_module("cls_tower", tower(o));
  box_tower = register_module("box_tower", tower(o));
  cls_logits = register_module(
      "cls_logits", nn::Conv2d(nn::Conv2dOptions(o.in_channels, o.num_anchors * o.num_classes, 3).padding(1)));
  box_deltas = register_module("box_deltas", nn::Conv2d(nn::Conv2dOptions(o.in_channels, o.num_anchors * 4, 3).padding(1)));
  if (!initial_weights_wanted()) return;
  for (auto& m : modules(false))
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::normal_(c->weight, 0.0, 0.01);
      nn::init::zeros_(c->bias);
    }
  // Start every anchor at the prior foreground probability so the many easy negatives do
  // not swamp the first steps.
  nn::init::constant_(cls_logits->bias, -std::log((1 - o.prior_probability) / o.prior_probability));
}

std::pair<torch::Tensor, torch::Tensor> RetinaNetHeadImpl::forward(const std::vector<torch::Tensor>& levels) {
  std::vector<torch::Tensor> cls, box;
  for (const auto& x : levels) {
    cls.push_back(flatten_level(tower_forward(cls_tower, cls_logits, int8_towers_[0], x), options_.num_classes));
    box.push_back(flatten_level(tower_forward(box_tower, box_deltas, int8_towers_[1], x), 4));
  }
  return {torch::cat(cls, 1), torch::cat(box, 1)};
}

// The tower's layers are (conv, [group norm,] ReLU) repeated; returns the final conv's output.
// Layer by layer rather than the Sequential's forward, for the 8-bit ranges.
torch::Tensor RetinaNetHeadImpl::tower_forward(nn::Sequential& tower, nn::Conv2d& final, Int8Tower& t, torch::Tensor x) {
  size_t block = 0;
  for (size_t i = 0; i < tower->size(); ++i) {
    const auto& layer = tower->ptr(i);
    if (auto* conv = layer->as<nn::Conv2d>()) {
      x = conv->forward(x);
      t.conv_range[block].record(x);
    } else if (auto* gn = layer->as<nn::GroupNorm>()) {
      x = gn->forward(x);
    } else {  // ReLU: the block ends
      x = x.relu();
      t.block_range[block++].record(x);
    }
  }
  x = final->forward(x);
  t.final_range.record(x);
  return x;
}

torch::Tensor RetinaNetHeadImpl::tower_int8(const nn::Sequential& tower, const Int8Tower& t, torch::Tensor q) const {
  const bool normalised = options_.group_norm_groups > 0;
  size_t block = 0;
  for (size_t i = 0; i < tower->size(); ++i) {
    const auto& layer = tower->ptr(i);
    if (layer->as<nn::Conv2d>()) {
      q = t.convs[block].forward(q, /*relu=*/!normalised);
    } else if (auto* gn = layer->as<nn::GroupNorm>()) {
      q = int8_group_norm(q, gn->options.num_groups(), gn->weight, gn->bias, gn->options.eps(), t.block_range[block]);
    } else {
      ++block;  // the ReLU: fused into the conv, or applied after the group norm
    }
  }
  return t.final_conv.forward(q, false).dequantize();
}

void RetinaNetHeadImpl::quantize_int8() {
  const std::array<nn::Sequential*, 2> towers{&cls_tower, &box_tower};
  const std::array<nn::Conv2d*, 2> finals{&cls_logits, &box_deltas};
  for (size_t k = 0; k < 2; ++k) {
    auto& t = int8_towers_[k];
    t.convs.clear();
    size_t block = 0;
    for (size_t i = 0; i < (*towers[k])->size(); ++i)
      if (auto* conv = (*towers[k])->ptr(i)->as<nn::Conv2d>())
        t.convs.emplace_back(*conv, options_.group_norm_groups > 0 ? t.conv_range[block++] : t.block_range[block++]);
    t.final_conv = Int8Conv(**finals[k], t.final_range);
  }
}

void RetinaNetHeadImpl::int8_ranges(std::vector<ActivationRange*>& out) {
  for (auto& t : int8_towers_) {
    for (size_t block = 0; block < t.block_range.size(); ++block) {
      if (options_.group_norm_groups > 0) out.push_back(&t.conv_range[block]);  // else the ReLU is fused into the conv
      out.push_back(&t.block_range[block]);
    }
    out.push_back(&t.final_range);
  }
}

std::pair<torch::Tensor, torch::Tensor> RetinaNetHeadImpl::forward_int8(const std::vector<torch::Tensor>& q) const {
  std::vector<torch::Tensor> cls, box;
  for (const auto& x : q) {
    cls.push_back(flatten_level(tower_int8(cls_tower, int8_towers_[0], x).contiguous(), options_.num_classes));
    box.push_back(flatten_level(tower_int8(box_tower, int8_towers_[1], x).contiguous(), 4));
  }
  return {torch::cat(cls, 1), torch::cat(box, 1)};
}

}  // namespace spinescan::models
