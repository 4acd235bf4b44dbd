// region_name.cpp -- validates region names (SPEC.md section 2) for the
// locality.region setting, the region type and add_region.
#include "locality/region_name.hpp"

#include <string>

#include "locality/status.hpp"

namespace locality {

bool is_valid_region_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > LOCALITY_REGION_NAME_MAX) return false;
  if (name.front() < 'a' || name.front() > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

void validate_region_name(std::string_view name) {
  if (is_valid_region_name(name)) return;
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid region name \"" + std::string(name) + "\"", kRegionNameRule);
}

}  // namespace locality

extern "C" int locality_region_name_validate(const char* name,
                                             LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::validate_region_name(name == nullptr ? std::string_view() : std::string_view(name));
  });
}
