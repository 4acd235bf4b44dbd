// circuit_breaker.hpp -- the circuit breaker of one remote region
// (ARCHITECTURE.md, component 5: isolation).
//
// Closed: calls go through; failure_threshold consecutive failures open it.
// Open: calls fail at once, so a dead region costs callers nothing, until
// reset_timeout has passed; then half-open: exactly one trial call goes
// through at a time, and its outcome closes the breaker (success) or opens
// it again with a new since (failure).
//
// The state is the plain LocalityBreaker of locality_core.h, which the shim
// keeps in shared memory; CircuitBreaker is a view that operates on it in
// place and holds nothing of its own.  All time is passed in (microseconds);
// nothing here reads a clock, so the transitions are testable exactly.
#pragma once

#include <cstdint>
#include <string_view>

#include "locality_core.h"

namespace locality {

enum class BreakerState { kClosed, kOpen, kHalfOpen };

enum class BreakerDecision {
  kAllowed,   // closed: go ahead
  kRejected,  // open, or half-open with the trial already running
  kTrial      // half-open: this call is the trial
};

struct BreakerConfig {
  int failure_threshold = 3;
  std::int64_t reset_timeout_us = 10'000'000;
  // A trial with no outcome after this long is presumed lost.
  std::int64_t trial_timeout_us = 10'000'000;

  // From the C struct; throws 22023 when out of range.
  static BreakerConfig from(const LocalityBreakerConfig& config);
};

class CircuitBreaker {
 public:
  // Throws XX000 when state holds a state or count no breaker can be in.
  CircuitBreaker(LocalityBreaker& state, const BreakerConfig& config);

  // Zeroes state: closed, no history.
  static void reset(LocalityBreaker& state) noexcept;

  BreakerDecision allow_call(std::int64_t now) noexcept;
  void record_success(std::int64_t now) noexcept;
  void record_failure(std::int64_t now, std::string_view reason) noexcept;

  // The state a caller would meet at now (open reads as half-open once
  // reset_timeout has passed); changes nothing.
  BreakerState state_at(std::int64_t now) const noexcept;

 private:
  void open(std::int64_t now) noexcept;
  bool reset_timeout_passed(std::int64_t now) const noexcept;

  LocalityBreaker& s_;
  BreakerConfig config_;
};

// "closed", "open", "half-open".
const char* breaker_state_name(BreakerState state) noexcept;

}  // namespace locality
