#pragma once
// Training a detector to mimic another (knowledge distillation): a smaller student learns
// from a trained teacher's outputs on the same augmented slices, beside the labelled boxes.
// Both nets must share the anchor layout (canvas, pyramid levels, anchor sizes); widths may differ.
#include <torch/types.h>

#include "spinescan/detect/retinanet.h"

namespace spinescan::detect {

// Anchors the teacher is confident of (max class probability above 0.5) carry the box term:
// the student's encoded deltas against the teacher's (smooth L1, beta as the detector loss).
// The class term is the binary KL divergence of the student's probabilities from the
// teacher's, over every anchor and class (0 where they agree; background anchors both score
// near 0 add little). Both are normalised by the number of confident anchors (at least 1), as
// the detection loss is by its foreground anchors. The teacher's outputs carry no gradient.
LossTerms distillation_loss(const HeadOutputs& student, const HeadOutputs& teacher, double smooth_l1_beta);

}  // namespace spinescan::detect
