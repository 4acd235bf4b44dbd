// sequence_residue.cpp -- residue-class arithmetic for the sequences of
// managed tables (SPEC.md section 3): each region restarts its sequence at
// a value of its own class, above every value already handed out, and then
// steps by the stride, so no value is handed out twice across regions.
#include "locality/sequence_residue.hpp"

#include <limits>
#include <string>

#include "locality/status.hpp"
#include "locality_core.h"

namespace locality {
namespace {

// a mod m in 0..m-1, also for negative a.
std::int64_t floor_mod(std::int64_t a, std::int64_t m) noexcept {
  std::int64_t r = a % m;
  return r < 0 ? r + m : r;
}

}  // namespace

std::int64_t sequence_residue(int region_id) {
  if (region_id < 1 || region_id > kSequenceStride)
    throw Error(sqlstate::kProgramLimitExceeded,
                "region id " + std::to_string(region_id) + " has no sequence residue class",
                "Sequences of managed tables support region ids 1 to " +
                    std::to_string(kSequenceStride) + ".");
  return region_id % kSequenceStride;
}

std::int64_t sequence_restart(std::int64_t last_value, bool is_called, std::int64_t floor,
                              int region_id, std::int64_t max_value) {
  const std::int64_t residue = sequence_residue(region_id);
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  auto exhausted = [&] {
    return Error(sqlstate::kSequenceLimitExceeded,
                 "sequence has no value left in the residue class of region id " +
                     std::to_string(region_id),
                 "The next value congruent to " + std::to_string(residue) + " modulo " +
                     std::to_string(kSequenceStride) + " would exceed the maximum value " +
                     std::to_string(max_value) + ".");
  };

  if (is_called && last_value == kMax) throw exhausted();
  std::int64_t base = is_called ? last_value + 1 : last_value;
  if (floor > base) base = floor;

  std::int64_t step = floor_mod(residue - floor_mod(base, kSequenceStride), kSequenceStride);
  if (base > kMax - step) throw exhausted();
  std::int64_t restart = base + step;
  if (restart > max_value) throw exhausted();
  return restart;
}

bool sequence_is_aligned(std::int64_t increment, std::int64_t last_value, int region_id) noexcept {
  if (region_id < 1 || region_id > kSequenceStride) return false;
  return increment == kSequenceStride &&
         floor_mod(last_value, kSequenceStride) == region_id % kSequenceStride;
}

}  // namespace locality

extern "C" int locality_sequence_restart(int64_t last_value, int is_called, int64_t floor,
                                         int region_id, int64_t max_value, int64_t* restart,
                                         LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    int64_t value = locality::sequence_restart(last_value, is_called != 0, floor, region_id,
                                               max_value);
    if (restart != nullptr) *restart = value;
  });
}

extern "C" int locality_sequence_is_aligned(int64_t increment, int64_t last_value,
                                            int region_id) noexcept {
  return locality::sequence_is_aligned(increment, last_value, region_id) ? 1 : 0;
}
