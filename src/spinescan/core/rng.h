#pragma once
// Seeded random numbers that give the same values on every platform and compiler:
// std::mt19937_64 is fully specified, but the std distributions are not, so the
// distributions used for data (phantoms, splits, augmentation) are written here.
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace spinescan {

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Independent stream for a sub-task (e.g. case i of a dataset), stable whatever the order.
  static Rng derived(uint64_t seed, uint64_t stream) { return Rng(mix(seed) ^ mix(stream + 0x9E3779B97F4A7C15ULL)); }

  uint64_t next() { return engine_(); }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), without modulo bias.
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = engine_();
    while (x >= limit);
    return x % n;
  }
  int integer(int lo, int hi_inclusive) { return lo + static_cast<int>(below(static_cast<uint64_t>(hi_inclusive - lo + 1))); }
  bool chance(double p) { return uniform() < p; }
  // Standard normal (Box-Muller; one value per call for simplicity).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0) u1 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * uniform());
  }
  double normal(double mean, double sd) { return mean + sd * normal(); }
  // The generator's whole state as text, and back: a resumed run continues the same stream.
  std::string state() const {
    std::ostringstream out;
    out << engine_;
    return out.str();
  }
  void restore(const std::string& state) {
    std::istringstream in(state);
    in >> engine_;
    if (!in) throw std::invalid_argument("not a random generator's state");
  }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  static uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  }
  std::mt19937_64 engine_;
};

}  // namespace spinescan
