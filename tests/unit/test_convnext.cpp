#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "spinescan/core/errors.h"
#include "spinescan/models/convnext.h"

using namespace spinescan;
using namespace spinescan::models;

namespace {
constexpr int kSpotStage = 2;  // which stage the spot test pools the maximum over
}  // namespace

TEST(ConvNext, PresetsHaveTheFamilyWidthsAndDepths) {
  EXPECT_EQ(ConvNextOptions::preset("atto").dims, (std::array<int, 4>{40, 80, 160, 320}));
  EXPECT_EQ(ConvNextOptions::preset("pico").dims[3], 512);
  EXPECT_EQ(ConvNextOptions::preset("nano").depths, (std::array<int, 4>{2, 2, 8, 2}));
  EXPECT_EQ(ConvNextOptions::preset("tiny").depths, (std::array<int, 4>{3, 3, 9, 3}));
  EXPECT_EQ(ConvNextOptions::preset("mini").depths, (std::array<int, 4>{1, 1, 2, 1}));
  EXPECT_THROW(ConvNextOptions::preset("huge"), ConfigError);
}

TEST(ConvNext, BlockKeepsShapeAndStartsNearTheIdentity) {
  torch::manual_seed(0);
  ConvNextBlock block(16, 0.0, 1e-6);
  const auto x = torch::randn({2, 16, 8, 8});
  const auto y = block->forward(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  // Layer scale 1e-6: the residual branch barely moves the input at first.
  EXPECT_LT((y - x).abs().max().item<float>(), 1e-3);
}

TEST(ConvNext, StageShapesAndLogits) {
  torch::manual_seed(0);
  auto o = ConvNextOptions::preset("atto");
  o.depths = {1, 1, 1, 1};  // fast
  o.in_channels = 3;        // 2.5D: the slice and its two neighbours
  ConvNext net(o);
  const auto x = torch::randn({2, 3, 64, 64});
  EXPECT_EQ(net->features(x).sizes(), (std::vector<int64_t>{2, 320}));
  EXPECT_EQ(net->forward(x).sizes(), (std::vector<int64_t>{2, 1}));
  ConvNextOptions bad;
  bad.in_channels = 0;
  EXPECT_THROW(ConvNext{bad}, ConfigError);
  ConvNextOptions bad_rate;
  bad_rate.drop_path_rate = 1.0;
  EXPECT_THROW(ConvNext{bad_rate}, ConfigError);
  // The maximum over stage 1's map (80 channels) joins the average over the last stage's.
  o.max_pool_stage = 1;
  ConvNext with_max(o);
  EXPECT_EQ(with_max->features(x).sizes(), (std::vector<int64_t>{2, 320 + 80}));
  EXPECT_EQ(with_max->forward(x).sizes(), (std::vector<int64_t>{2, 1}));
  ConvNextOptions bad_stage;
  bad_stage.max_pool_stage = 4;
  EXPECT_THROW(ConvNext{bad_stage}, ConfigError);
}

TEST(ConvNext, ChannelLayerNormNormalisesEachPixelOverChannels) {
  ChannelLayerNorm norm(8);
  const auto x = torch::randn({2, 8, 5, 5}) * 3 + 7;
  const auto y = norm->forward(x);
  EXPECT_TRUE(torch::allclose(y.mean(1), torch::zeros({2, 5, 5}), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(y.pow(2).mean(1), torch::ones({2, 5, 5}), 1e-3, 1e-3));
  // Against torch's LayerNorm over the last axis after moving channels there.
  const auto reference = torch::layer_norm(x.permute({0, 2, 3, 1}), {8}, {}, {}, 1e-6).permute({0, 3, 1, 2});
  EXPECT_TRUE(torch::allclose(y, reference, 1e-4, 1e-5));
}

TEST(ConvNext, DropPathIsOffInEvalAndUnbiasedInTraining) {
  torch::manual_seed(3);
  DropPath drop(0.5);
  const auto x = torch::ones({4000, 2});
  drop->eval();
  EXPECT_TRUE(torch::equal(drop->forward(x), x));
  drop->train();
  const auto y = drop->forward(x);
  // Each sample is dropped whole (0) or kept and scaled by 2.
  EXPECT_TRUE(((y == 0) | (y == 2)).all().item<bool>());
  EXPECT_TRUE(torch::equal(y.select(1, 0), y.select(1, 1)));
  EXPECT_NEAR(y.mean().item<float>(), 1.0, 0.05);
  // A whole network is deterministic in eval mode even with stochastic depth.
  auto o = ConvNextOptions::preset("atto");
  o.depths = {1, 1, 2, 1};
  o.drop_path_rate = 0.5;
  ConvNext net(o);
  net->eval();
  const auto in = torch::randn({2, 1, 32, 32});
  EXPECT_TRUE(torch::equal(net->forward(in), net->forward(in)));
}

// Single-channel inputs: the stem's LayerNorm must not divide out the intensity (see the
// stem-bias initialisation in convnext.cpp). Brighter-or-not is the simplest pathology cue
// (oedema, infection) and must be learnt in a few steps.
TEST(ConvNext, LearnsWhetherACropIsBrighterInAFewSteps) {
  torch::manual_seed(0);
  ConvNext net(ConvNextOptions::preset("micro"));
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.05));
  double last = 1;
  for (int step = 0; step < 100; ++step) {
    const auto y = torch::randint(0, 2, {32, 1}).to(torch::kFloat);
    const auto x = torch::rand({32, 1, 64, 64}) * 0.3 + 0.3 + 0.2 * y.view({32, 1, 1, 1});
    const auto loss = torch::binary_cross_entropy_with_logits(net->forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.item<double>();
  }
  EXPECT_LT(last, 0.2);  // chance is 0.69; measured 0.02
}

// Issue 18's metastasis blind spot, reduced to its core: one bright disc of 6 pixels' radius
// (+0.3 on uniform noise in [0.3, 0.6], anywhere in the middle half of a 64-pixel crop) or none.
// Measured 2026-12-06 (docs/model_card.md, "Does the classifier see a metastasis?"): after 400
// steps the micro and atto ConvNeXts with the head on the last stage's average stay at chance
// (loss 0.694), as does a two-layer CNN with average pooling; the same CNN with max pooling
// reaches 0.002. With max_pool_stage the ConvNeXt's head also reads a maximum over a fine map.
// Returned: the lowest mean loss over 50 consecutive steps, steps 50-400. AdamW at a constant
// 2e-3 can lose the spot again for a while after finding it (on an AVX-512 machine, seed 0: 0.015
// over steps 150-200, back at chance over 300-450, 0.009 by step 550), and which steps that hits
// depends on the CPU's kernels; a net that never finds the spot stays at chance in every window.
static double spot_task_best_window_loss(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                            std::vector<torch::Tensor> parameters) {
  const auto yy = torch::arange(64).view({1, 64, 1}).to(torch::kFloat);
  const auto xx = torch::arange(64).view({1, 1, 64}).to(torch::kFloat);
  torch::manual_seed(1);
  torch::optim::AdamW opt(parameters, torch::optim::AdamWOptions(2e-3).weight_decay(0.05));
  double window = 0, best = 1e9;
  for (int step = 0; step < 400; ++step) {
    const auto y = torch::randint(0, 2, {32, 1}).to(torch::kFloat);
    const auto cy = torch::randint(16, 48, {32, 1, 1}).to(torch::kFloat);
    const auto cx = torch::randint(16, 48, {32, 1, 1}).to(torch::kFloat);
    const auto spot = ((yy - cy).pow(2) + (xx - cx).pow(2) <= 36).to(torch::kFloat);
    const auto x = torch::rand({32, 1, 64, 64}) * 0.3 + 0.3 + 0.3 * (spot * y.view({32, 1, 1})).unsqueeze(1);
    const auto loss = torch::binary_cross_entropy_with_logits(forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    window += loss.item<double>() / 50;
    if (step % 50 == 49) {
      if (step >= 99) best = std::min(best, window);
      window = 0;
    }
  }
  return best;
}

TEST(ConvNext, FindsASmallBrightSpotWithAMaximumOverAFineStage) {
  torch::manual_seed(0);
  torch::nn::Sequential plain(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 5).padding(2)), torch::nn::ReLU(),
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 5).padding(2)), torch::nn::ReLU(),
                              torch::nn::AdaptiveMaxPool2d(1), torch::nn::Flatten(), torch::nn::Linear(8, 1));
  const double plain_loss = spot_task_best_window_loss([&](const torch::Tensor& x) { return plain->forward(x); }, plain->parameters());
  torch::manual_seed(0);
  auto options = ConvNextOptions::preset("micro");
  options.max_pool_stage = kSpotStage;
  ConvNext net(options);
  const double convnext_loss = spot_task_best_window_loss([&](const torch::Tensor& x) { return net->forward(x); }, net->parameters());
  std::printf("best 50-step mean loss: plain CNN %.3f, ConvNeXt-micro with the maximum over stage %d %.3f (chance 0.693)\n",
              plain_loss, kSpotStage, convnext_loss);
  ASSERT_LT(plain_loss, 0.2) << "the task itself is learnable in 400 steps";
  EXPECT_LT(convnext_loss, 0.2);
}

// The head on the last stage's average alone (the shipped classifier until issue 18's fix):
// blind to the spot. Kept as a measure, disabled because it trains for 400 steps to show a failure;
// run it with --gtest_also_run_disabled_tests.
TEST(ConvNext, DISABLED_AverageOfTheLastStageMissesTheSpot) {
  torch::manual_seed(0);
  ConvNext net(ConvNextOptions::preset("micro"));
  const double loss = spot_task_best_window_loss([&](const torch::Tensor& x) { return net->forward(x); }, net->parameters());
  std::printf("ConvNeXt-micro, average of the last stage: best 50-step mean loss %.3f (chance 0.693)\n", loss);
  EXPECT_GT(loss, 0.6);
}
