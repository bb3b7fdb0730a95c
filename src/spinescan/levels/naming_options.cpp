#include "spinescan/levels/naming_options.h"

#include <string>

#include "spinescan/core/errors.h"

namespace spinescan::levels {

nlohmann::json LevelNamingOptions::to_json() const {
  return {{"unsure_p_low", unsure_p_low},
          {"unsure_p_high", unsure_p_high},
          {"short_lowest_fraction", short_lowest_fraction},
          {"short_lowest_confidence_factor", short_lowest_confidence_factor},
          {"bottom_margin_mm", bottom_margin_mm},
          {"cut_lowest_confidence_factor", cut_lowest_confidence_factor},
          {"confidence_kept_per_step", confidence_kept_per_step}};
}

LevelNamingOptions LevelNamingOptions::from_json(const nlohmann::json& j) {
  SPINESCAN_CHECK_AS(j.is_object(), ModelError, "level naming options: expected an object");
  LevelNamingOptions o;
  const auto read = [&](const char* key, double lo, double hi) {
    SPINESCAN_CHECK_AS(j.contains(key) && j[key].is_number(), ModelError, "level naming options: '", key, "' must be a number");
    const double v = j[key].get<double>();
    SPINESCAN_CHECK_AS(v >= lo && v <= hi, ModelError, "level naming options: '", key, "' must be in [", lo, ", ", hi, "], got ", v);
    return v;
  };
  o.unsure_p_low = read("unsure_p_low", 0, 0.5);
  o.unsure_p_high = read("unsure_p_high", 0.5, 1);
  o.short_lowest_fraction = read("short_lowest_fraction", 0, 1);
  o.short_lowest_confidence_factor = read("short_lowest_confidence_factor", 0, 1);
  o.bottom_margin_mm = read("bottom_margin_mm", 0, 100);
  o.cut_lowest_confidence_factor = read("cut_lowest_confidence_factor", 0, 1);
  o.confidence_kept_per_step = read("confidence_kept_per_step", 0, 1);
  return o;
}

}  // namespace spinescan::levels
