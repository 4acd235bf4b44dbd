// region_name.hpp -- the region-name rule of SPEC.md section 2.
#pragma once

#include <string_view>

namespace locality {

// The rule, in the words error messages use.
inline constexpr const char* kRegionNameRule =
    "A region name is 1 to 63 characters of lower-case letters, digits and "
    "hyphens, starting with a letter.";

// True when name follows the rule.
bool is_valid_region_name(std::string_view name) noexcept;

// Throws Error 22023 `invalid region name "name"` with the rule as detail.
void validate_region_name(std::string_view name);

}  // namespace locality
