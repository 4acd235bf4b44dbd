// sequence_residue.hpp -- residue classes that keep the sequences behind
// managed tables' serial and identity columns from colliding across regions
// (SPEC.md section 3).
#pragma once

#include <cstdint>

namespace locality {

// Every region's sequence steps by kSequenceStride and hands out the values
// congruent to its region id modulo kSequenceStride, so two regions never
// hand out the same value.  Region ids 1..kSequenceStride have distinct
// classes; that is also the most regions pg_locality supports.
inline constexpr std::int64_t kSequenceStride = 64;

// The residue class of region_id; throws 54000 for an id outside
// 1..kSequenceStride.
std::int64_t sequence_residue(int region_id);

// The value a sequence restarts at when it joins region_id's class: the
// smallest value >= both the next unused value (last_value + 1 when
// is_called, else last_value) and floor that is in the class.  Throws
// 2200H when that value would exceed max_value.
std::int64_t sequence_restart(std::int64_t last_value, bool is_called, std::int64_t floor,
                              int region_id, std::int64_t max_value);

// True when a sequence already steps through region_id's class.
bool sequence_is_aligned(std::int64_t increment, std::int64_t last_value, int region_id) noexcept;

}  // namespace locality
