// region_id.hpp -- the compact id of a region (locality.region_catalog.id),
// the form in which the core knows regions: clocks' stamps, CRDT slots.
#pragma once

#include <cstdint>

namespace locality {

// 1 and up; the catalog hands out positive smallints.
using RegionId = std::uint16_t;

// No region: a server whose region is not set, an unknown origin.
inline constexpr RegionId kNoRegion = 0;

}  // namespace locality
