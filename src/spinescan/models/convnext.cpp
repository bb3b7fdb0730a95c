#include "spinescan/models/convnext.h"

#include <torch/torch.h>

#include "spinescan/core/errors.h"
#include "spinescan/models/initial_weights.h"

namespace spinescan::models {

namespace nn = torch::nn;

ConvNextOptions ConvNextOptions::preset(const std::string& name) {
  ConvNextOptions o;
  if (name == "micro") {  // not a timm size: a few thousand parameters, for tests
    o.depths = {1, 1, 1, 1};
    o.dims = {8, 16, 32, 64};
  } else if (name == "mini") {  // not a timm size either: micro three times as wide, a second block where the crop is 4x4
    o.depths = {1, 1, 2, 1};
    o.dims = {24, 48, 96, 192};
  } else if (name == "atto") {
    o.dims = {40, 80, 160, 320};
  } else if (name == "femto") {
    o.dims = {48, 96, 192, 384};
  } else if (name == "pico") {
    o.dims = {64, 128, 256, 512};
  } else if (name == "nano") {
    o.depths = {2, 2, 8, 2};
    o.dims = {80, 160, 320, 640};
  } else if (name == "tiny") {
    o.depths = {3, 3, 9, 3};
    o.dims = {96, 192, 384, 768};
  } else {
    throw ConfigError("unknown ConvNeXt preset '" + name + "' (micro, mini, atto, femto, pico, nano, tiny)");
  }
  return o;
}

void ConvNextOptions::validate() const {
  SPINESCAN_CHECK_AS(in_channels >= 1 && num_classes >= 1, ConfigError, "ConvNeXt needs >= 1 input channel and class");
  for (int i = 0; i < 4; ++i)
    SPINESCAN_CHECK_AS(depths[i] >= 1 && dims[i] >= 1, ConfigError, "ConvNeXt stage ", i, " needs depth and width >= 1");
  SPINESCAN_CHECK_AS(drop_path_rate >= 0 && drop_path_rate < 1, ConfigError, "drop-path rate must be in [0, 1), got ",
                     drop_path_rate);
  SPINESCAN_CHECK_AS(max_pool_stage >= -1 && max_pool_stage <= 3, ConfigError,
                     "max-pool stage must be -1 (none) or 0..3, got ", max_pool_stage);
}

int ConvNextOptions::pooled_width() const { return dims[3] + (max_pool_stage >= 0 ? dims[max_pool_stage] : 0); }

ChannelLayerNormImpl::ChannelLayerNormImpl(int channels, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor ChannelLayerNormImpl::forward(const torch::Tensor& x) {
  const auto mean = x.mean(1, true);
  const auto var = (x - mean).pow(2).mean(1, true);
  const auto y = (x - mean) / torch::sqrt(var + eps_);
  return weight.view({1, -1, 1, 1}) * y + bias.view({1, -1, 1, 1});
}

torch::Tensor DropPathImpl::forward(const torch::Tensor& x) {
  if (!is_training() || p_ <= 0) return x;
  const double keep = 1 - p_;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  const auto mask = torch::bernoulli(torch::full(shape, keep, x.options()));
  return x * mask / keep;
}

ConvNextBlockImpl::ConvNextBlockImpl(int dim, double drop, double layer_scale_init) {
  depthwise = register_module("depthwise", nn::Conv2d(nn::Conv2dOptions(dim, dim, 7).padding(3).groups(dim)));
  norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  expand = register_module("expand", nn::Linear(dim, 4 * dim));
  project = register_module("project", nn::Linear(4 * dim, dim));
  gamma = register_parameter("gamma", torch::full({dim}, layer_scale_init));
  drop_path = register_module("drop_path", DropPath(drop));
}

torch::Tensor ConvNextBlockImpl::forward(const torch::Tensor& x) {
  auto y = depthwise(x).permute({0, 2, 3, 1});  // [N, H, W, C]: LayerNorm and Linear act on C
  y = project(torch::gelu(expand(norm(y))));
  y = (gamma * y).permute({0, 3, 1, 2});
  return x + drop_path(y);
}

ConvNextImpl::ConvNextImpl(const ConvNextOptions& o) : options_(o) {
  o.validate();
  downsample = register_module("downsample", nn::ModuleList());
  stages = register_module("stages", nn::ModuleList());
  downsample->push_back(nn::Sequential(nn::Conv2d(nn::Conv2dOptions(o.in_channels, o.dims[0], 4).stride(4)),
                                       ChannelLayerNorm(o.dims[0])));
  for (int i = 1; i < 4; ++i)
    downsample->push_back(nn::Sequential(ChannelLayerNorm(o.dims[i - 1]),
                                         nn::Conv2d(nn::Conv2dOptions(o.dims[i - 1], o.dims[i], 2).stride(2))));
  const int total_blocks = o.depths[0] + o.depths[1] + o.depths[2] + o.depths[3];
  int block = 0;
  for (int i = 0; i < 4; ++i) {
    nn::Sequential stage;
    for (int j = 0; j < o.depths[i]; ++j, ++block) {
      const double rate = total_blocks > 1 ? o.drop_path_rate * block / (total_blocks - 1) : 0.0;
      stage->push_back(ConvNextBlock(o.dims[i], rate, o.layer_scale_init));
    }
    stages->push_back(stage);
  }
  head_norm = register_module("head_norm", nn::LayerNorm(nn::LayerNormOptions({o.dims[3]}).eps(1e-6)));
  if (o.max_pool_stage >= 0)
    max_norm = register_module("max_norm", nn::LayerNorm(nn::LayerNormOptions({o.dims[o.max_pool_stage]}).eps(1e-6)));
  head = register_module("head", nn::Linear(o.pooled_width(), o.num_classes));
  if (!initial_weights_wanted()) return;
  for (auto& m : modules(false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::normal_(c->weight, 0.0, 0.02);
      nn::init::zeros_(c->bias);
    } else if (auto* l = m->as<nn::Linear>()) {
      nn::init::normal_(l->weight, 0.0, 0.02);
      nn::init::zeros_(l->bias);
    }
  }
  // With one input channel and zero biases, the stem's output at a pixel is the intensity
  // times a fixed vector, and the LayerNorm after it divides that scale out: at
  // initialisation the network cannot see how bright a region is (measured: a micro ConvNeXt
  // with zero stem biases stayed at loss 0.69 for 100 steps on "whole crop brighter or not";
  // with these it reached 0.02; test_convnext.cpp keeps that). Random stem biases make the
  // channel vector change direction with intensity, so brightness survives the normalisation.
  auto* stem = downsample[0]->as<nn::Sequential>()->ptr(0)->as<nn::Conv2d>();
  nn::init::normal_(stem->bias, 0.0, 0.05);
}

torch::Tensor ConvNextImpl::features(const torch::Tensor& x) {
  auto y = x;
  torch::Tensor maxima;
  for (int i = 0; i < 4; ++i) {
    y = downsample[i]->as<nn::Sequential>()->forward(y);
    y = stages[i]->as<nn::Sequential>()->forward(y);
    if (i == options_.max_pool_stage) maxima = max_norm(y.amax({2, 3}));
  }
  auto pooled = head_norm(y.mean({2, 3}));
  return maxima.defined() ? torch::cat({pooled, maxima}, 1) : pooled;
}

torch::Tensor ConvNextImpl::logits_of(const torch::Tensor& f) { return head(f); }

torch::Tensor ConvNextImpl::forward(const torch::Tensor& x) {
  auto f = features(x);
  if (is_training() && options_.head_dropout > 0) f = torch::dropout(f, options_.head_dropout, true);
  return head(f);
}

}  // namespace spinescan::models
