#pragma once
// The baseline the ConvNeXt has to beat: logistic regression on a dozen hand-made intensity
// and shape statistics of the body and its adjacent discs on one slice. It sees what a
// radiologist's first glance sees (is the marrow bright or dark, are the endplate bands
// different from the body, is the body low) and nothing learnt from pixels.
#include <nlohmann/json.hpp>
#include <vector>

#include "spinescan/classify/crops.h"
#include "spinescan/io/volume.h"

namespace spinescan::classify {

// Features of the body in `box` on canonical slice `slice` of a normalised volume.
std::vector<double> intensity_features(const Volume<float>& normalized, int slice, const ops::Box& box);
const std::vector<std::string>& intensity_feature_names();

// L2-regularised logistic regression on standardised features, class-weighted so both
// classes weigh the same in the loss, fitted by full-batch gradient descent (convex, so the
// result does not depend on a seed).
class LogisticRegression {
 public:
  void fit(const std::vector<std::vector<double>>& x, const std::vector<int>& y, double l2 = 1e-2, int iterations = 3000);
  double predict(const std::vector<double>& x) const;  // p(y = 1)
  nlohmann::json to_json() const;
  static LogisticRegression from_json(const nlohmann::json& j);
  bool fitted() const { return !w_.empty(); }
  const std::vector<double>& weights() const { return w_; }

 private:
  std::vector<double> mean_, sd_, w_;
  double bias_ = 0;
};

// The intensity model of a training set: the regression above fitted on every labelled
// slice sample (ground-truth boxes) of `train`.
struct ClassifierData;
LogisticRegression fit_intensity_model(const ClassifierData& train);

}  // namespace spinescan::classify
