#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "spinescan/ops/box_ops.h"

using namespace spinescan::ops;

TEST(BoxOps, IouByHand) {
  const auto a = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 2.f, 2.f}).view({2, 4});
  const auto b = torch::tensor({5.f, 5.f, 15.f, 15.f, 20.f, 20.f, 30.f, 30.f, 0.f, 0.f, 10.f, 10.f}).view({3, 4});
  const auto iou = box_iou(a, b);
  ASSERT_EQ(iou.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_NEAR(iou[0][0].item<float>(), 25.0 / 175.0, 1e-6);  // 5x5 overlap, union 100+100-25
  EXPECT_EQ(iou[0][1].item<float>(), 0.0f);
  EXPECT_NEAR(iou[0][2].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(iou[1][2].item<float>(), 4.0 / 100.0, 1e-6);
}

TEST(BoxOps, GeneralizedIouPenalisesDistance) {
  const auto a = torch::tensor({0.f, 0.f, 2.f, 2.f, 0.f, 0.f, 2.f, 2.f}).view({2, 4});
  const auto b = torch::tensor({0.f, 0.f, 2.f, 2.f, 4.f, 0.f, 6.f, 2.f}).view({2, 4});
  const auto g = generalized_box_iou(a, b);
  EXPECT_NEAR(g[0].item<float>(), 1.0, 1e-6);
  // Disjoint: IoU 0, hull 6x2 = 12, union 8 -> 0 - (12 - 8) / 12.
  EXPECT_NEAR(g[1].item<float>(), -4.0 / 12.0, 1e-6);
}

TEST(BoxOps, NmsKeepsTheBestOfEachClusterInScoreOrder) {
  const auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f,     // 0: score .9
                                    1.f, 1.f, 11.f, 11.f,     // 1: IoU 81/119 = .68 with 0
                                    20.f, 20.f, 30.f, 30.f,   // 2: separate
                                    0.f, 0.f, 10.f, 9.f})     // 3: IoU .9 with 0
                         .view({4, 4});
  const auto scores = torch::tensor({0.9f, 0.8f, 0.7f, 0.95f});
  const auto keep = nms(boxes, scores, 0.5);
  ASSERT_EQ(keep.size(0), 2);
  EXPECT_EQ(keep[0].item<int64_t>(), 3);
  EXPECT_EQ(keep[1].item<int64_t>(), 2);
  // A looser threshold keeps box 1 (IoU .68 with 3's cluster head? 3 vs 1: inter 9x8=72,
  // union 90+100-72=118 -> .61) but not 0 (IoU .9).
  const auto loose = nms(boxes, scores, 0.65);
  ASSERT_EQ(loose.size(0), 3);
  EXPECT_EQ(loose[1].item<int64_t>(), 1);
}

TEST(BoxOps, NmsWithEqualScoresVisitsLowerIndexFirst) {
  const auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f}).view({3, 4});
  const auto scores = torch::tensor({0.5f, 0.5f, 0.5f});
  const auto keep = nms(boxes, scores, 0.5);
  ASSERT_EQ(keep.size(0), 1);
  EXPECT_EQ(keep[0].item<int64_t>(), 0);
  EXPECT_EQ(nms(torch::empty({0, 4}), torch::empty({0}), 0.5).size(0), 0);
}

TEST(BoxOps, BatchedNmsNeverSuppressesAcrossClasses) {
  const auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f}).view({2, 4});
  const auto scores = torch::tensor({0.9f, 0.8f});
  EXPECT_EQ(batched_nms(boxes, scores, torch::tensor({0, 1}), 0.5).size(0), 2);
  EXPECT_EQ(batched_nms(boxes, scores, torch::tensor({1, 1}), 0.5).size(0), 1);
}

TEST(BoxOps, FocalLossByHand) {
  // p = sigmoid(0) = 0.5 for a positive: 0.25 * 0.5^2 * ln 2; for a negative: 0.75 * 0.5^2 * ln 2.
  const double ln2 = std::log(2.0);
  EXPECT_NEAR(sigmoid_focal_loss(torch::zeros({1}), torch::ones({1})).item<double>(), 0.25 * 0.25 * ln2, 1e-6);
  EXPECT_NEAR(sigmoid_focal_loss(torch::zeros({1}), torch::zeros({1})).item<double>(), 0.75 * 0.25 * ln2, 1e-6);
  // A confident correct prediction (p = sigmoid(3) = .9526) is down-weighted by (1 - p)^2.
  const double p = 1 / (1 + std::exp(-3.0));
  EXPECT_NEAR(sigmoid_focal_loss(torch::full({1}, 3.0), torch::ones({1})).item<double>(),
              0.25 * (1 - p) * (1 - p) * -std::log(p), 1e-6);
  // gamma 0 and alpha < 0 give plain binary cross-entropy.
  EXPECT_NEAR(sigmoid_focal_loss(torch::full({1}, 3.0), torch::ones({1}), -1, 0).item<double>(), -std::log(p), 1e-6);
  // Sums over elements.
  EXPECT_NEAR(sigmoid_focal_loss(torch::zeros({2, 3}), torch::ones({2, 3})).item<double>(), 6 * 0.25 * 0.25 * ln2, 1e-5);
}
