// hlc.cpp -- the hybrid logical clock (hlc.hpp): local events, receive
// events with the max_clock_skew guard, and the causal LWW order.
#include "locality/hlc.hpp"

#include <limits>
#include <string>

#include "locality/status.hpp"

namespace locality {
namespace {

void check_physical(std::uint64_t physical_ms) {
  if (physical_ms > kHlcMaxPhysicalMs)
    throw Error(sqlstate::kDatetimeFieldOverflow,
                "physical clock reading " + std::to_string(physical_ms) +
                    " ms is out of range for the hybrid logical clock",
                "The clock holds 48 bits of milliseconds since 1970-01-01 UTC.");
}

// last + 1, refusing to wrap.
Hlc successor(Hlc last) {
  if (last == std::numeric_limits<Hlc>::max())
    throw Error(sqlstate::kNumericValueOutOfRange, "hybrid logical clock exhausted",
                "The clock has reached its largest value and cannot move forward.");
  return last + 1;
}

}  // namespace

Hlc HybridLogicalClock::now(std::uint64_t physical_ms) {
  check_physical(physical_ms);
  Hlc physical = hlc_make(physical_ms, 0);
  Hlc next = physical > last_ ? physical : successor(last_);
  last_ = next;
  return next;
}

Hlc HybridLogicalClock::update(Hlc received, std::uint64_t physical_ms, std::uint64_t max_skew_ms) {
  check_physical(physical_ms);
  std::uint64_t received_ms = hlc_physical_ms(received);
  if (received_ms > physical_ms && received_ms - physical_ms > max_skew_ms)
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                "remote clock is " + std::to_string(received_ms - physical_ms) +
                    " ms ahead of the local clock",
                "The change's hybrid logical clock reads " + std::to_string(received_ms) +
                    " ms, the local clock " + std::to_string(physical_ms) +
                    " ms; locality.max_clock_skew allows " + std::to_string(max_skew_ms) + " ms.",
                "Check the time synchronization (NTP) of both servers.  The change is "
                "applied once the local clock is within the bound.");
  Hlc next = hlc_make(physical_ms, 0);
  if (next <= last_) next = successor(last_);
  if (received != 0 && next <= received) next = successor(received);
  last_ = next;
  return next;
}

Hlc hlc_reservation(Hlc last, Hlc reserved, std::uint64_t window_ms) noexcept {
  if (reserved >= last) return 0;
  constexpr Hlc kMax = std::numeric_limits<Hlc>::max();
  Hlc window = window_ms > (kMax >> kHlcLogicalBits) ? kMax : window_ms << kHlcLogicalBits;
  return last > kMax - window ? kMax : last + window;
}

Hlc HybridLogicalClock::commit(std::uint64_t physical_ms, bool* derived) {
  check_physical(physical_ms);
  Hlc floor = hlc_make(physical_ms, 0);
  if (last_ <= floor) {
    last_ = floor;
    *derived = true;
    return floor;
  }
  *derived = false;
  return now(physical_ms);
}

int stamp_compare(const LocalityHlcStamp& a, const LocalityHlcStamp& b) noexcept {
  if (a.hlc != b.hlc) return a.hlc < b.hlc ? -1 : 1;
  if (a.region_id != b.region_id) return a.region_id < b.region_id ? -1 : 1;
  return 0;
}

}  // namespace locality

extern "C" int locality_hlc_now(LocalityHlc* clock, uint64_t physical_ms, uint64_t* stamp,
                                LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    if (clock == nullptr)
      throw locality::Error(locality::sqlstate::kInternalError, "locality_hlc_now: clock is NULL");
    locality::HybridLogicalClock hlc(clock->last);
    locality::Hlc next = hlc.now(physical_ms);
    clock->last = hlc.last();
    if (stamp != nullptr) *stamp = next;
  });
}

extern "C" int locality_hlc_update(LocalityHlc* clock, uint64_t received, uint64_t physical_ms,
                                   uint64_t max_skew_ms, uint64_t* stamp,
                                   LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    if (clock == nullptr)
      throw locality::Error(locality::sqlstate::kInternalError,
                            "locality_hlc_update: clock is NULL");
    locality::HybridLogicalClock hlc(clock->last);
    locality::Hlc next = hlc.update(received, physical_ms, max_skew_ms);
    clock->last = hlc.last();
    if (stamp != nullptr) *stamp = next;
  });
}

extern "C" int locality_hlc_commit(LocalityHlc* clock, uint64_t physical_ms, uint64_t* stamp,
                                   int* derived, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    if (clock == nullptr || derived == nullptr)
      throw locality::Error(locality::sqlstate::kInternalError,
                            "locality_hlc_commit: clock or derived is NULL");
    locality::HybridLogicalClock hlc(clock->last);
    bool is_derived = false;
    locality::Hlc next = hlc.commit(physical_ms, &is_derived);
    clock->last = hlc.last();
    *derived = is_derived ? 1 : 0;
    if (stamp != nullptr) *stamp = next;
  });
}

extern "C" void locality_hlc_witness(LocalityHlc* clock, uint64_t stamp) noexcept {
  if (clock == nullptr) return;
  locality::HybridLogicalClock hlc(clock->last);
  hlc.witness(stamp);
  clock->last = hlc.last();
}

extern "C" uint64_t locality_hlc_of_commit_time(int64_t pg_timestamp_us) noexcept {
  return locality::hlc_of_commit_time(pg_timestamp_us);
}

extern "C" int locality_hlc_stamp_compare(const LocalityHlcStamp* a,
                                          const LocalityHlcStamp* b) noexcept {
  return locality::stamp_compare(*a, *b);
}

extern "C" uint64_t locality_hlc_reservation(uint64_t last, uint64_t reserved,
                                             uint64_t window_ms) noexcept {
  return locality::hlc_reservation(last, reserved, window_ms);
}

extern "C" void locality_hlc_restore(LocalityHlc* clock, uint64_t mark) noexcept {
  if (clock != nullptr) clock->last = locality::hlc_restore(clock->last, mark);
}
