#include <gtest/gtest.h>
#include <dlfcn.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include "spinescan/core/errors.h"
#include "spinescan/core/tensor_allocator.h"
#include "spinescan/core/threads.h"
#include "spinescan/detect/anchors.h"
#include "spinescan/detect/box_coder.h"
#include "spinescan/detect/detector_io.h"
#include "spinescan/detect/distillation.h"
#include "spinescan/detect/matcher.h"
#include "spinescan/detect/retinanet.h"
#include "spinescan/models/initial_weights.h"
#include "spinescan/ops/box_ops.h"
#include "test_util.h"

using namespace spinescan;
using namespace spinescan::detect;

TEST(Anchors, CentredOnCellsWithSizeAndRatioByHand) {
  AnchorOptions o;
  o.strides = {8};
  o.sizes = {16};
  o.scales = {1.0, 2.0};
  o.aspect_ratios = {1.0, 4.0};
  const auto a = make_anchors(o, {{2, 3}});
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{2 * 3 * 4, 4}));
  // Cell (y=0, x=0), centre (4, 4): scale 1 ratio 1 -> 16x16; ratio 4 -> w 8, h 32.
  const auto expect_row = [&](int64_t i, std::array<float, 4> v) {
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(a[i][c].item<float>(), v[c], 1e-5) << "anchor " << i << " coord " << c;
  };
  expect_row(0, {-4, -4, 12, 12});
  expect_row(1, {0, -12, 8, 20});
  expect_row(2, {-12, -12, 20, 20});  // scale 2: 32x32
  expect_row(3, {-4, -28, 12, 36});   // scale 2 ratio 4: w 16, h 64
  // Cell (y=0, x=1): centre (12, 4); cell (y=1, x=0) comes after the whole first row.
  expect_row(4, {4, -4, 20, 12});
  expect_row(12, {-4, 4, 12, 20});
}

TEST(Anchors, LevelsAreConcatenatedInOrder) {
  AnchorOptions o;  // defaults: P3 (16) and P4 (32), 9 anchors
  const auto a = make_anchors(o, {{4, 4}, {2, 2}});
  EXPECT_EQ(a.size(0), (16 + 4) * 9);
  const auto first_p4 = a[16 * 9];
  EXPECT_NEAR((first_p4[0] + first_p4[2]).item<float>() / 2, 8.0, 1e-5);  // centre of the first P4 cell
  EXPECT_THROW(make_anchors(o, {{4, 4}}), ModelError);
}

TEST(BoxCoder, EncodeByHandAndRoundTrip) {
  const auto anchors = torch::tensor({0.f, 0.f, 10.f, 20.f}).view({1, 4});
  const auto box = torch::tensor({5.f, 10.f, 25.f, 30.f}).view({1, 4});
  const auto d = encode_boxes(box, anchors);
  // Anchor centre (5, 10), 10x20; box centre (15, 20), 20x20.
  EXPECT_NEAR(d[0][0].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(d[0][1].item<float>(), 0.5, 1e-6);
  EXPECT_NEAR(d[0][2].item<float>(), std::log(2.0), 1e-6);
  EXPECT_NEAR(d[0][3].item<float>(), 0.0, 1e-6);
  BoxCoderOptions weighted;
  weighted.weights = {10, 10, 5, 5};
  torch::manual_seed(0);
  const auto many_anchors = torch::rand({50, 2}) * 100;
  const auto a = torch::cat({many_anchors, many_anchors + 5 + torch::rand({50, 2}) * 40}, 1);
  const auto b = torch::cat({many_anchors + torch::rand({50, 2}) * 10, many_anchors + 20 + torch::rand({50, 2}) * 30}, 1);
  for (const auto& o : {BoxCoderOptions{}, weighted})
    EXPECT_TRUE(torch::allclose(decode_boxes(encode_boxes(b, a, o), a, o), b, 1e-4, 1e-3));
}

TEST(Matcher, ThresholdsAndIgnoredBand) {
  // Two boxes, four anchors.
  const auto iou = torch::tensor({0.7f, 0.45f, 0.1f, 0.2f,  //
                                  0.6f, 0.3f, 0.35f, 0.8f})
                       .view({2, 4});
  MatcherOptions o;
  o.allow_low_quality = false;
  const auto m = match_anchors(iou, o);
  EXPECT_EQ(m[0].item<int64_t>(), 0);            // .7 beats .6
  EXPECT_EQ(m[1].item<int64_t>(), kIgnored);     // .45 in [.4, .5)
  EXPECT_EQ(m[2].item<int64_t>(), kBackground);  // .35 < .4
  EXPECT_EQ(m[3].item<int64_t>(), 1);
}

TEST(Matcher, LowQualityMatchesIncludingTies) {
  // Box 0's best IoU is .3 and two anchors tie at it; box 1 is matched normally.
  const auto iou = torch::tensor({0.3f, 0.3f, 0.1f, 0.0f,  //
                                  0.0f, 0.1f, 0.2f, 0.9f})
                       .view({2, 4});
  const auto m = match_anchors(iou, MatcherOptions{});
  EXPECT_EQ(m[0].item<int64_t>(), 0);
  EXPECT_EQ(m[1].item<int64_t>(), 0);  // tie: both anchors claimed
  EXPECT_EQ(m[2].item<int64_t>(), kBackground);
  EXPECT_EQ(m[3].item<int64_t>(), 1);
  // A low-quality anchor keeps the box it overlaps best: anchor 1 is the best anchor of both
  // box 0 (.3) and box 1 (.35), below the background threshold, and goes to box 1.
  const auto iou2 = torch::tensor({0.1f, 0.3f, 0.0f,  //
                                   0.0f, 0.35f, 0.2f})
                        .view({2, 3});
  const auto m2 = match_anchors(iou2, MatcherOptions{});
  EXPECT_EQ(m2[1].item<int64_t>(), 1);
  EXPECT_EQ(m2[0].item<int64_t>(), kBackground);
  EXPECT_EQ(m2[2].item<int64_t>(), kBackground);
  // No boxes: every anchor is background.
  EXPECT_TRUE((match_anchors(torch::zeros({0, 5}), MatcherOptions{}) == kBackground).all().item<bool>());
}

TEST(RetinaNet, ForwardShapesLossAndBackward) {
  torch::manual_seed(1);
  RetinaNetOptions o;
  o.backbone.widths = {8, 16, 32, 64};  // a narrow net keeps the test fast
  o.fpn.out_channels = 16;
  o.head.group_norm_groups = 4;
  RetinaNet net(o);
  const auto images = torch::randn({2, 1, 64, 96});
  const auto out = net->forward(images);
  const int64_t anchors = (8 * 12 + 4 * 6) * 9;  // P3 8x12, P4 4x6
  EXPECT_EQ(out.class_logits.sizes(), (std::vector<int64_t>{2, anchors, 1}));
  EXPECT_EQ(out.box_deltas.sizes(), (std::vector<int64_t>{2, anchors, 4}));
  EXPECT_EQ(out.anchors.size(0), anchors);
  // Prior probability: initial scores ~0.01.
  EXPECT_NEAR(torch::sigmoid(out.class_logits).mean().item<float>(), 0.01, 0.005);
  std::vector<torch::Tensor> boxes{torch::tensor({10.f, 10.f, 40.f, 35.f}).view({1, 4}), torch::zeros({0, 4})};
  std::vector<torch::Tensor> labels{torch::zeros({1}, torch::kLong), torch::zeros({0}, torch::kLong)};
  const auto loss = net->loss(out, boxes, labels);
  EXPECT_GT(loss.classification.item<float>(), 0);
  EXPECT_GT(loss.box_regression.item<float>(), 0);
  loss.total().backward();
  // Residual branches start as the identity (zero last-BN gamma), so their convolutions get
  // gradient only once that gamma has moved: after one step every parameter must get some.
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1));
  sgd.step();
  sgd.zero_grad();
  const auto again = net->forward(images);
  net->loss(again, boxes, labels).total().backward();
  std::string without_grad;
  for (const auto& p : net->named_parameters())
    if (!p.value().grad().defined() || p.value().grad().abs().sum().item<float>() == 0) without_grad += p.key() + " ";
  EXPECT_EQ(without_grad, "");
  net->eval();
  const auto dets = net->postprocess(net->forward(images));
  ASSERT_EQ(dets.size(), 2u);
  EXPECT_LE(dets[0].boxes.size(0), o.detections_per_image);
  EXPECT_EQ(dets[0].boxes.size(1), 4);
}

TEST(Distillation, ZeroWhenTheStudentAgreesPositiveAndOnlyTheStudentLearnsWhenNot) {
  // Hand-made outputs: 2 images, 3 anchors, 1 class.
  HeadOutputs teacher;
  teacher.class_logits = torch::tensor({3.f, -4.f, -4.f, -4.f, 2.f, -4.f}).view({2, 3, 1});  // confident: anchors 0 and 4
  teacher.box_deltas = torch::arange(24, torch::kFloat).view({2, 3, 4}) / 10;
  HeadOutputs same = teacher;
  const auto agree = distillation_loss(same, teacher, 1.0 / 9);
  EXPECT_NEAR(agree.classification.item<float>(), 0, 1e-5);
  EXPECT_NEAR(agree.box_regression.item<float>(), 0, 1e-6);

  HeadOutputs student;
  student.class_logits = torch::zeros({2, 3, 1}).requires_grad_(true);
  student.box_deltas = torch::zeros({2, 3, 4}).requires_grad_(true);
  const auto d = distillation_loss(student, teacher, 1.0 / 9);
  EXPECT_GT(d.classification.item<float>(), 0);
  // Box term: smooth L1 of the deltas of the two confident anchors, over 2 anchors.
  const auto confident = torch::cat({teacher.box_deltas[0][0], teacher.box_deltas[1][1]});
  const float expected_box = torch::smooth_l1_loss(torch::zeros({8}), confident, at::Reduction::Sum, 1.0 / 9).item<float>() / 2;
  EXPECT_NEAR(d.box_regression.item<float>(), expected_box, 1e-5);
  d.total().backward();
  // The class gradient pulls each logit toward the teacher's; the box gradient reaches only the
  // confident anchors.
  const auto g = student.class_logits.grad().flatten();
  EXPECT_LT(g[0].item<float>(), 0);  // teacher 0.95: raise
  EXPECT_GT(g[1].item<float>(), 0);  // teacher 0.02: lower
  EXPECT_GT(student.box_deltas.grad()[0][0].abs().sum().item<float>(), 0);
  EXPECT_EQ(student.box_deltas.grad()[0][1].abs().sum().item<float>(), 0);

  HeadOutputs other;
  other.class_logits = torch::zeros({2, 4, 1});
  other.box_deltas = torch::zeros({2, 4, 4});
  EXPECT_THROW(distillation_loss(other, teacher, 1.0 / 9), spinescan::ModelError);
}

// A narrow net with every block kind (stem, plain and downsampling blocks) and group-normed heads.
static RetinaNetOptions small_retinanet_options() {
  RetinaNetOptions o;
  o.backbone.widths = {8, 16, 32, 64};
  o.fpn.out_channels = 16;
  o.head.group_norm_groups = 4;
  return o;
}

TEST(RetinaNet, FoldedBatchNormsGiveTheSameOutputsAndTheNetCannotBeTrainedOrSaved) {
  // Folding must be exact to float rounding for batch norms that are far from the identity
  // (trained statistics, not the initial 0/1), on every block kind: stem, plain and
  // downsampling blocks.
  torch::manual_seed(3);
  RetinaNet net(small_retinanet_options());
  int batch_norms = 0;
  {
    torch::NoGradGuard no_grad;
    for (auto& m : net->modules(/*include_self=*/false))
      if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
        ++batch_norms;
        bn->weight.uniform_(0.5, 2.0);
        bn->bias.normal_(0, 0.5);
        bn->running_mean.normal_(0, 0.5);
        bn->running_var.uniform_(0.2, 3.0);
      }
  }
  EXPECT_EQ(batch_norms, 1 + 8 * 2 + 3);  // stem, two per block, three downsampling shortcuts
  net->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({2, 1, 64, 96});
  const auto before = net->forward(images);
  net->fold_batch_norms();
  net->fold_batch_norms();  // twice is once
  ASSERT_TRUE(net->batch_norms_folded());
  const auto after = net->forward(images);
  EXPECT_TRUE(torch::allclose(after.class_logits, before.class_logits, 1e-4, 1e-4))
      << (after.class_logits - before.class_logits).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(after.box_deltas, before.box_deltas, 1e-4, 1e-4))
      << (after.box_deltas - before.box_deltas).abs().max().item<float>();
  EXPECT_THROW(net->train(), c10::Error);
  spinescan::testing::TempDir tmp;
  EXPECT_THROW(save_detector(net, DetectorSpec{}, tmp / "bundle", false), Error);
  EXPECT_FALSE(std::filesystem::exists(tmp / "bundle"));
}

TEST(RetinaNet, BuiltToLoadItSkipsItsOwnInitialWeightsAndLoadsBackExactly) {
  // Built under SkipInitialWeights the head keeps libtorch's default bias, not the prior's
  // logit (about -4.6), and the guard restores what was there before it (nesting included).
  constexpr float kPriorLogit = -4.59512f;  // -log((1 - 0.01) / 0.01)
  auto cls_bias = [](RetinaNet& net) {
    for (const auto& p : net->named_parameters())
      if (p.key() == "head.cls_logits.bias") return p.value().mean().item<float>();
    ADD_FAILURE() << "no head.cls_logits.bias";
    return 0.0f;
  };
  {
    models::SkipInitialWeights outer;
    {
      models::SkipInitialWeights inner;
    }
    EXPECT_FALSE(models::initial_weights_wanted());
    RetinaNet skipped(small_retinanet_options());
    EXPECT_GT(std::abs(cls_bias(skipped) - kPriorLogit), 3.0f);
  }
  EXPECT_TRUE(models::initial_weights_wanted());
  torch::manual_seed(5);
  RetinaNet net(small_retinanet_options());
  EXPECT_NEAR(cls_bias(net), kPriorLogit, 1e-4);
  {
    torch::NoGradGuard no_grad;  // moved off the initial values, so a skipped weight shows
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  net->eval();
  // load_detector builds its net under the guard: every weight must still come from the file.
  DetectorSpec spec;
  spec.model = small_retinanet_options();
  spinescan::testing::TempDir tmp;
  save_detector(net, spec, tmp / "bundle", /*half_precision=*/false);
  LoadedDetector loaded = load_detector(tmp / "bundle", torch::kCPU, /*for_inference=*/false);
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({1, 1, 64, 96});
  const auto saved_out = net->forward(images);
  const auto loaded_out = loaded.net->forward(images);
  EXPECT_TRUE(torch::equal(loaded_out.class_logits, saved_out.class_logits));
  EXPECT_TRUE(torch::equal(loaded_out.box_deltas, saved_out.box_deltas));
}

TEST(RetinaNet, BFloat16InferenceGivesFloatOutputsCloseToFloat32AndNeedsAFoldedNet) {
  // Every weight, the folded batch norms' biases included (buffers their convolutions' `bias`
  // members share), must become bfloat16: one left in float makes the convolution throw.
  torch::manual_seed(4);
  RetinaNet net(small_retinanet_options());
  net->eval();
  EXPECT_THROW(net->use_bfloat16(), c10::Error);  // not folded yet
  torch::NoGradGuard no_grad;
  net->fold_batch_norms();
  const auto images = torch::rand({2, 1, 64, 96});
  const auto reference = net->forward(images);
  net->use_bfloat16();
  ASSERT_TRUE(net->uses_bfloat16());
  for (const auto& p : net->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* conv = m->as<torch::nn::Conv2d>(); conv && conv->bias.defined())
      EXPECT_EQ(conv->bias.scalar_type(), torch::kBFloat16);
  const auto rounded = net->forward(images);  // a float input is cast on the way in
  EXPECT_EQ(rounded.class_logits.scalar_type(), torch::kFloat);
  EXPECT_EQ(rounded.box_deltas.scalar_type(), torch::kFloat);
  // bfloat16 keeps 8 bits of mantissa: outputs agree to a few hundredths, not to float rounding.
  const float logit_error = (rounded.class_logits - reference.class_logits).abs().max().item<float>();
  const float delta_error = (rounded.box_deltas - reference.box_deltas).abs().max().item<float>();
  EXPECT_LT(logit_error, 0.1f);
  EXPECT_LT(delta_error, 0.1f);
  EXPECT_GT(logit_error + delta_error, 0.0f) << "the net did not run in bfloat16";
  const auto detections = net->postprocess(rounded);
  ASSERT_EQ(detections.size(), 2u);
  EXPECT_EQ(detections[0].boxes.scalar_type(), torch::kFloat);
}

// Batch norms away from the identity, as trained ones are (no block's second convolution folds
// to zero weights, so every 8-bit convolution carries signal); eval mode, unfolded.
static void give_trained_batch_norm_statistics(RetinaNet& net) {
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.normal_(0, 0.2);
      bn->running_var.uniform_(0.5, 2.0);
    }
  net->eval();
}

TEST(RetinaNet, Int8RangesAreForgottenOnRecalibrationAndGiveTheSameNetBackFromJson) {
  // Bundles store the ranges (model calibrate-int8) and analyze quantizes from them without a
  // calibration pass: the stored ranges must give exactly the net the calibration gave.
  auto make = [] {
    torch::manual_seed(5);
    RetinaNet net(small_retinanet_options());
    give_trained_batch_norm_statistics(net);
    return net;
  };
  RetinaNet calibrated = make();
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({2, 1, 64, 96});
  EXPECT_THROW(calibrated->calibrate_int8({images}), c10::Error);  // not folded yet
  calibrated->fold_batch_norms();
  const auto float_before = calibrated->forward(images).class_logits;
  calibrated->calibrate_int8({images * 10});
  const auto wide = calibrated->int8_ranges();
  calibrated->calibrate_int8({images});
  const auto ranges = calibrated->int8_ranges();
  EXPECT_NE(ranges, wide);  // the first calibration's wider ranges were forgotten, not merged
  // Recording leaves the float forward as it was.
  EXPECT_TRUE(torch::equal(calibrated->forward(images).class_logits, float_before));
  calibrated->quantize_int8();
  ASSERT_TRUE(calibrated->uses_int8());
  EXPECT_STREQ(calibrated->precision_name(), "int8");
  const auto from_calibration = calibrated->forward(images);

  RetinaNet loaded = make();
  loaded->fold_batch_norms();
  const auto stored = nlohmann::json::parse(ranges.dump());  // through text, as a manifest holds them
  auto short_by_one = stored;
  short_by_one.erase(short_by_one.size() - 1);
  EXPECT_THROW(loaded->set_int8_ranges(short_by_one), ModelError);
  auto reversed = stored;
  reversed[0] = {1.0, -1.0};
  EXPECT_THROW(loaded->set_int8_ranges(reversed), ModelError);
  loaded->set_int8_ranges(stored);
  loaded->quantize_int8();
  const auto from_json = loaded->forward(images);
  EXPECT_TRUE(torch::equal(from_json.class_logits, from_calibration.class_logits));
  EXPECT_TRUE(torch::equal(from_json.box_deltas, from_calibration.box_deltas));
  EXPECT_FALSE(torch::equal(from_json.class_logits, float_before)) << "the net did not run in 8 bits";
  EXPECT_THROW(loaded->calibrate_int8({images}), c10::Error);  // already in 8 bits
  // An image unlike the calibration's saturates instead of failing.
  EXPECT_NO_THROW(loaded->forward(images * 10));
}

TEST(RetinaNet, Int8WholeDetectorWithAndWithoutGroupNormsGivesOutputsCloseToFloat) {
  // The FPN and both head towers in 8 bits as well: group norms as quantized group norms whose
  // output range starting at 0 is the ReLU after them; without them, the ReLU fused into the conv.
  for (const int groups : {4, 0}) {
  SCOPED_TRACE(groups);
  torch::manual_seed(6);
  auto options = small_retinanet_options();
  options.head.group_norm_groups = groups;
  RetinaNet net(options);
  give_trained_batch_norm_statistics(net);
  {
    // Head weights large enough that the logits spread (at their initial 0.01 every anchor
    // scores the prior, to a thousandth).
    torch::NoGradGuard no_grad;
    for (const auto& item : net->named_modules())
      if (auto* conv = item.value()->as<torch::nn::Conv2d>(); conv && item.key().rfind("head", 0) == 0)
        conv->weight.normal_(0, 0.1);
  }
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({2, 1, 64, 96});
  EXPECT_THROW(net->quantize_int8(), c10::Error);  // not folded yet
  net->fold_batch_norms();
  const auto reference = net->forward(images);
  net->calibrate_int8({images, torch::rand({2, 1, 64, 96})});
  net->quantize_int8();
  ASSERT_TRUE(net->uses_int8());
  const auto quantized = net->forward(images);
  ASSERT_EQ(quantized.class_logits.sizes(), reference.class_logits.sizes());
  ASSERT_EQ(quantized.box_deltas.sizes(), reference.box_deltas.sizes());
  const float spread = (reference.box_deltas.max() - reference.box_deltas.min()).item<float>();
  const float delta_error = (quantized.box_deltas - reference.box_deltas).abs().mean().item<float>();
  const float logit_spread = (reference.class_logits.max() - reference.class_logits.min()).item<float>();
  const float logit_error = (quantized.class_logits - reference.class_logits).abs().mean().item<float>();
  EXPECT_LT(delta_error, 0.05f * spread) << delta_error << " against a spread of " << spread;
  EXPECT_LT(logit_error, 0.05f * logit_spread) << logit_error << " against a spread of " << logit_spread;
  EXPECT_GT(delta_error, 0.0f) << "the net did not run in 8 bits";
  // The anchors and the decoding see the same levels as in float.
  EXPECT_TRUE(torch::equal(quantized.anchors, reference.anchors));
  EXPECT_EQ(net->postprocess(quantized).size(), 2u);
  }
}

TEST(DetectorPrecision, BFloat16InstructionsAreAmxOrAvx512BF16InTheFlagsLine) {
  // bfloat16 ran 2x faster with AMX tiles and 1.3x with AVX512-BF16 (docs/benchmarks.md); the
  // warning that it is likely slower is for CPUs with neither.
  spinescan::testing::TempDir tmp;
  const auto dir = tmp.path();
  auto has_bf16 = [&](const std::string& flags) {
    const auto path = dir / "cpuinfo";
    std::ofstream(path) << "processor\t: 0\nmodel name\t: a CPU\n" << flags << "\nbugs\t\t: avx512_bf16\n";
    return spinescan::cpu_has_bf16_instructions(path.string());
  };
  EXPECT_TRUE(has_bf16("flags\t\t: fpu sse avx512f amx_bf16 amx_tile avx512_bf16 avx512_vnni"));
  EXPECT_TRUE(has_bf16("flags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni"));  // AMD Zen 4
  EXPECT_TRUE(has_bf16("flags\t\t: fpu sse avx512f amx_bf16"));                // the last flag
  EXPECT_FALSE(has_bf16("flags\t\t: fpu sse avx2 avx512f avx512_vnni"));
  EXPECT_FALSE(has_bf16("flags\t\t: fpu avx512_bf16x"));  // a flag that merely starts the same
  EXPECT_FALSE(spinescan::cpu_has_bf16_instructions((dir / "missing").string()));
}

TEST(ConfigureThreads, OpenBlasGetsOneThreadAndLibtorchTheRest) {
  // Two thread pools on the same cores (OpenBLAS's under libtorch's OpenMP) halved the
  // classifier's speed; configure_threads leaves BLAS one thread.
  using GetThreads = int (*)();
  const auto openblas_threads = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (openblas_threads == nullptr) GTEST_SKIP() << "the BLAS in use is not OpenBLAS";
  const int before = at::get_num_threads();
  EXPECT_EQ(configure_threads(2), 2);
  EXPECT_EQ(openblas_threads(), 1);
  configure_threads(before);
}

TEST(TensorAllocator, LargeBlocksAreHugePageAlignedAndConvolutionsStillAgree) {
  // The process-wide allocator of the spinescan binary: large tensors start on a 2 MiB
  // boundary (so the kernel can back them with huge pages), small ones stay 64-byte aligned,
  // and oneDNN's convolutions, which allocate and free through raw_deleter(), give the same
  // result as under the default allocator.
  torch::manual_seed(5);
  const auto input = torch::randn({4, 8, 96, 96});
  const auto weight = torch::randn({16, 8, 3, 3});
  const auto reference = torch::conv2d(input, weight, {}, 1, 1);
  install_tensor_allocator();
  install_tensor_allocator();  // once is enough; a second call changes nothing
  ASSERT_TRUE(tensor_allocator_installed());
  const auto large = torch::empty({3 << 20}, torch::kFloat);  // 12 MiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data_ptr()) % (uintptr_t{2} << 20), 0u);
  const auto small = torch::ones({100});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data_ptr()) % 64, 0u);
  EXPECT_EQ(small.sum().item<float>(), 100.0f);
  const auto empty = torch::empty({0});
  EXPECT_EQ(empty.numel(), 0);
  for (int repeat = 0; repeat < 3; ++repeat)
    EXPECT_TRUE(torch::allclose(torch::conv2d(input.clone(), weight, {}, 1, 1), reference, 1e-5, 1e-5)) << repeat;
}

TEST(RetinaNet, OptionsRoundTripThroughJsonAndAreValidated) {
  RetinaNetOptions o;
  o.box_loss = "giou";
  o.nms_threshold = 0.4;
  const auto back = RetinaNetOptions::from_json(o.to_json());
  EXPECT_EQ(back.to_json(), RetinaNetOptions(o).to_json());
  RetinaNetOptions bad;
  bad.box_loss = "l3";
  EXPECT_THROW(bad.validate(), ConfigError);
  RetinaNetOptions mismatch;
  mismatch.fpn.max_level = 5;  // three levels but two anchor levels
  EXPECT_THROW(RetinaNet{mismatch}, ConfigError);
}

TEST(DetectorSpec, LinkedScoreRoundTripsDefaultsToTheOperatingScoreAndIsValidated) {
  DetectorSpec spec;
  spec.operating_score = 0.3;
  spec.linked_score = 0.2;
  auto j = spec.to_json("detector.pt");
  EXPECT_DOUBLE_EQ(DetectorSpec::from_json(j).linked_score, 0.2);
  j.erase("linked_score");  // a bundle made before slice linking reports what it reported then
  EXPECT_DOUBLE_EQ(DetectorSpec::from_json(j).linked_score, 0.3);
  j["linked_score"] = 0.4;  // above the operating score
  EXPECT_THROW(DetectorSpec::from_json(j), ModelError);
  j["linked_score"] = "0.2";
  EXPECT_THROW(DetectorSpec::from_json(j), ModelError);
  j["linked_score"] = 0.0;
  EXPECT_THROW(DetectorSpec::from_json(j), ModelError);
}


TEST(DetectorSpec, SagittalContextRoundTripsAndMustMatchTheNetsInputChannels) {
  DetectorSpec spec;
  auto j = spec.to_json("detector.pt");
  EXPECT_FALSE(j["canvas"].contains("context_mm"));  // a one-slice detector's manifest as before
  EXPECT_DOUBLE_EQ(DetectorSpec::from_json(j).canvas.context_mm, 0.0);
  spec.canvas.context_mm = 3;
  spec.model.backbone.in_channels = 3;
  j = spec.to_json("detector.pt");
  EXPECT_DOUBLE_EQ(DetectorSpec::from_json(j).canvas.context_mm, 3.0);
  EXPECT_EQ(DetectorSpec::from_json(j).model.backbone.in_channels, 3);
  j["canvas"].erase("context_mm");  // a three-channel net without its context
  EXPECT_THROW(DetectorSpec::from_json(j), ModelError);
}
