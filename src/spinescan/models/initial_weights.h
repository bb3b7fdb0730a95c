#pragma once
// Whether the models' constructors draw their own initial weights. A network built only to
// have stored weights copied into it (detect::load_weights) would overwrite those draws at
// once; on a cold `analyze` they were a measurable part of the model load (docs/benchmarks.md).
// libtorch's modules still run their own reset_parameters(): no option skips that.
// Skipping changes no later number: every random draw after a load is seeded right before it
// (augmentation noise, drop path).
namespace spinescan::models {

namespace detail {
inline thread_local bool initial_weights_skipped = false;
}

inline bool initial_weights_wanted() { return !detail::initial_weights_skipped; }

// While one lives, models built on this thread keep libtorch's default weights.
class SkipInitialWeights {
 public:
  SkipInitialWeights() : previous_(detail::initial_weights_skipped) { detail::initial_weights_skipped = true; }
  ~SkipInitialWeights() { detail::initial_weights_skipped = previous_; }
  SkipInitialWeights(const SkipInitialWeights&) = delete;
  SkipInitialWeights& operator=(const SkipInitialWeights&) = delete;

 private:
  bool previous_;
};

}  // namespace spinescan::models
