// hlc.hpp -- the hybrid logical clock behind causal last-write-wins
// (SPEC.md section 5; the correctness argument is in docs/conflicts.md).
//
//   local commit  --now(physical)-->  hlc  --wire BEGIN-->  apply worker
//   apply worker  --update(received, physical)-->  the local clock passes
//                 every write this region has applied, so a write made after
//                 observing another one is stamped later, whatever the
//                 physical clocks say
//
// Layout: one uint64.  The high 48 bits are physical milliseconds since the
// Unix epoch, the low 16 bits a logical counter.  Milliseconds, not
// microseconds: 48 bits of microseconds run out after 8.9 years, 48 bits of
// milliseconds in the year 10889; and a finer grain buys no correctness,
// because the clock's job is ordering writes that are concurrent within
// max_clock_skew (500 ms) and WAN latency (50-200 ms), where any sub-ms
// order of concurrent writes is as good as another.  16 logical bits give
// 65,536 stamps per millisecond before the counter carries.
//
// Read as a single integer, Kulkarni et al.'s HLC rules become one max():
//   now:     t = max(physical << 16, last + 1)
//   update:  t = max(physical << 16, last + 1, received + 1)
// which is (l, c) with c reset when the physical clock moves ahead and
// incremented otherwise; when c would pass 0xFFFF it carries into l, so the
// clock stays strictly monotonic and runs ahead of physical time by 1 ms per
// 65,536 stamps of a burst (bounded in practice; never a wrap).
//
// Not thread-safe: the shim keeps one clock in shared memory under its own
// lock.  The state is the last stamp handed out, one plain integer.
#pragma once

#include <cstdint>

#include "locality/region_id.hpp"
#include "locality_core.h"

namespace locality {

using Hlc = std::uint64_t;

inline constexpr unsigned kHlcLogicalBits = LOCALITY_HLC_LOGICAL_BITS;
inline constexpr std::uint64_t kHlcLogicalMask = (std::uint64_t{1} << kHlcLogicalBits) - 1;
inline constexpr std::uint64_t kHlcMaxPhysicalMs = LOCALITY_HLC_MAX_PHYSICAL_MS;

constexpr Hlc hlc_make(std::uint64_t physical_ms, std::uint16_t logical) noexcept {
  return (physical_ms << kHlcLogicalBits) | logical;
}
constexpr std::uint64_t hlc_physical_ms(Hlc hlc) noexcept { return hlc >> kHlcLogicalBits; }
constexpr std::uint16_t hlc_logical(Hlc hlc) noexcept {
  return static_cast<std::uint16_t>(hlc & kHlcLogicalMask);
}

class HybridLogicalClock {
 public:
  // last: the last stamp handed out (0 for a new clock).
  explicit HybridLogicalClock(Hlc last = 0) noexcept : last_(last) {}

  // A stamp for a local event (a commit): greater than every stamp this clock
  // has handed out or observed, and not below physical_ms.  Throws 22008 for
  // a physical reading past kHlcMaxPhysicalMs, 22003 when the clock is at
  // its last value.  On a throw the clock is unchanged.
  Hlc now(std::uint64_t physical_ms);

  // Observes a stamp received from another region (the BEGIN of a change
  // being applied) and returns a stamp for the receive event, greater than
  // both received and everything before.  received 0 means unknown and is
  // ignored.  Throws 55000 when received is more than max_skew_ms ahead of
  // physical_ms: taking it would drag this region's clock (and through it
  // every region's) into the sender's future.  The clock is unchanged then,
  // and retrying later succeeds once the local clock has caught up to within
  // the bound, so a fast clock delays its region's changes instead of
  // winning every conflict.  Also throws what now() throws.
  Hlc update(Hlc received, std::uint64_t physical_ms, std::uint64_t max_skew_ms);

  // The stamp of a local commit that may be derived from its commit
  // timestamp (docs/conflicts.md section 8, "derived stamps").  When the
  // clock has not run ahead of physical_ms (last <= physical_ms << 16), sets
  // *derived and returns physical_ms << 16, which the clock takes as its
  // last: the commit's stamp is then hlc_of_commit_time(its commit
  // timestamp), taken later, so at least this value and greater than every
  // stamp the clock observed from another region.  Otherwise clears
  // *derived and returns now(physical_ms), a stamp to be stored.  Throws
  // what now() throws; the clock is unchanged then.
  Hlc commit(std::uint64_t physical_ms, bool* derived);

  // The clock passes stamp (a derived commit's stamp, known once its commit
  // timestamp is): last = max(last, stamp).
  void witness(Hlc stamp) noexcept {
    if (stamp > last_) last_ = stamp;
  }

  Hlc last() const noexcept { return last_; }

 private:
  Hlc last_;
};

// Persistence across a restart, as a sequence caches values: before a clock
// whose last stamp is last may be used, a mark >= last must be on disk.
// reservation() is the mark to write when reserved (the one on disk) does not
// cover last: last + window_ms (saturating at the largest stamp); 0 when
// reserved already covers it.  A restarted clock starts at restore(mark) and
// so hands out only stamps above every one handed out or observed before.
Hlc hlc_reservation(Hlc last, Hlc reserved, std::uint64_t window_ms) noexcept;
inline Hlc hlc_restore(Hlc last, Hlc mark) noexcept { return last > mark ? last : mark; }

// The stamp a commit timestamp stands for (pg_timestamp_us: microseconds
// since 2000-01-01, a TimestampTz): its millisecond, logical part 0.
constexpr Hlc hlc_of_commit_time(std::int64_t pg_timestamp_us) noexcept {
  return static_cast<Hlc>(pg_timestamp_us / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH)
         << kHlcLogicalBits;
}

// The causal last-write-wins order: (hlc, region id), lexicographic.  Two
// regions never hand out the same (hlc, region); two transactions of one
// region share a stamp only when both are derived from commit timestamps in
// the same millisecond, and then every other region receives them in their
// commit order on one stream (docs/conflicts.md section 2), so every region
// orders any two writes the same way.  -1, 0 or 1.
int stamp_compare(const LocalityHlcStamp& a, const LocalityHlcStamp& b) noexcept;

inline bool stamp_before(const LocalityHlcStamp& a, const LocalityHlcStamp& b) noexcept {
  return stamp_compare(a, b) < 0;
}

}  // namespace locality
