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
    cls.push_back(flatten_level(cls_logits(cls_tower->forward(x)), options_.num_classes));
    box.push_back(flatten_level(box_deltas(box_tower->forward(x)), 4));
  }
  return {torch::cat(cls, 1), torch::cat(box, 1)};
}

}  // namespace spinescan::models
