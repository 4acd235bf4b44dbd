// circuit_breaker.cpp -- per-region circuit breaker transitions
// (circuit_breaker.hpp) and their C API (locality_core.h).
#include "locality/circuit_breaker.hpp"

#include <cstring>
#include <limits>
#include <string>

#include "locality/status.hpp"

namespace locality {
namespace {

// now + d without overflowing (times are far from the limits, a setting
// need not be).
std::int64_t plus(std::int64_t now, std::int64_t d) noexcept {
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  return d > 0 && now > kMax - d ? kMax : now + d;
}

}  // namespace

BreakerConfig BreakerConfig::from(const LocalityBreakerConfig& config) {
  if (config.failure_threshold < 1)
    throw Error(sqlstate::kInvalidParameterValue,
                "circuit breaker failure threshold must be at least 1, not " +
                    std::to_string(config.failure_threshold));
  if (config.reset_timeout_us < 0)
    throw Error(sqlstate::kInvalidParameterValue,
                "circuit breaker reset timeout must not be negative");
  if (config.trial_timeout_us <= 0)
    throw Error(sqlstate::kInvalidParameterValue,
                "circuit breaker trial timeout must be positive");
  BreakerConfig out;
  out.failure_threshold = config.failure_threshold;
  out.reset_timeout_us = config.reset_timeout_us;
  out.trial_timeout_us = config.trial_timeout_us;
  return out;
}

CircuitBreaker::CircuitBreaker(LocalityBreaker& state, const BreakerConfig& config)
    : s_(state), config_(config) {
  // Shared memory is the shim's; a wild value there must not steer us.
  if (s_.state != LOCALITY_BREAKER_CLOSED && s_.state != LOCALITY_BREAKER_OPEN &&
      s_.state != LOCALITY_BREAKER_HALF_OPEN)
    throw Error(sqlstate::kInternalError,
                "circuit breaker in unknown state " + std::to_string(s_.state));
  if (s_.consecutive_failures < 0)
    throw Error(sqlstate::kInternalError, "circuit breaker with a negative failure count");
}

void CircuitBreaker::reset(LocalityBreaker& state) noexcept {
  std::memset(&state, 0, sizeof state);
  state.state = LOCALITY_BREAKER_CLOSED;
}

bool CircuitBreaker::reset_timeout_passed(std::int64_t now) const noexcept {
  return now >= plus(s_.opened_at, config_.reset_timeout_us);
}

BreakerDecision CircuitBreaker::allow_call(std::int64_t now) noexcept {
  switch (s_.state) {
    case LOCALITY_BREAKER_CLOSED:
      return BreakerDecision::kAllowed;
    case LOCALITY_BREAKER_OPEN:
      if (!reset_timeout_passed(now)) return BreakerDecision::kRejected;
      s_.state = LOCALITY_BREAKER_HALF_OPEN;
      s_.trial_running = 0;
      break;
    default:
      break;
  }
  // Half-open: one trial at a time; a lost trial frees the slot.
  if (s_.trial_running && now < s_.trial_expires_at) return BreakerDecision::kRejected;
  s_.trial_running = 1;
  s_.trial_expires_at = plus(now, config_.trial_timeout_us);
  return BreakerDecision::kTrial;
}

void CircuitBreaker::record_success(std::int64_t now) noexcept {
  s_.last_success_at = now;
  // Open: a call let through before it opened proves little; wait for the trial.
  if (s_.state == LOCALITY_BREAKER_OPEN) return;
  s_.state = LOCALITY_BREAKER_CLOSED;
  s_.consecutive_failures = 0;
  s_.trial_running = 0;
  s_.trial_expires_at = 0;
}

void CircuitBreaker::record_failure(std::int64_t now, std::string_view reason) noexcept {
  size_t n = reason.size() < sizeof s_.last_failure - 1 ? reason.size()
                                                         : sizeof s_.last_failure - 1;
  if (n > 0) std::memcpy(s_.last_failure, reason.data(), n);  // data() may be null when empty
  s_.last_failure[n] = '\0';
  s_.last_failure_at = now;
  if (s_.consecutive_failures < std::numeric_limits<int>::max()) s_.consecutive_failures++;

  switch (s_.state) {
    case LOCALITY_BREAKER_CLOSED:
      if (s_.consecutive_failures >= config_.failure_threshold) open(now);
      break;
    case LOCALITY_BREAKER_HALF_OPEN:
      open(now);  // the region is still down: a new since
      break;
    default:
      break;  // already open: keep since at the start of the outage
  }
}

void CircuitBreaker::open(std::int64_t now) noexcept {
  s_.state = LOCALITY_BREAKER_OPEN;
  s_.opened_at = now;
  s_.trial_running = 0;
  s_.trial_expires_at = 0;
}

BreakerState CircuitBreaker::state_at(std::int64_t now) const noexcept {
  switch (s_.state) {
    case LOCALITY_BREAKER_OPEN:
      return reset_timeout_passed(now) ? BreakerState::kHalfOpen : BreakerState::kOpen;
    case LOCALITY_BREAKER_HALF_OPEN:
      return BreakerState::kHalfOpen;
    default:
      return BreakerState::kClosed;
  }
}

const char* breaker_state_name(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

}  // namespace locality

namespace {

void require(const void* p, const char* what) {
  if (p == nullptr)
    throw locality::Error(locality::sqlstate::kInternalError,
                          std::string("circuit breaker called without ") + what);
}

int to_c(locality::BreakerState state) noexcept {
  switch (state) {
    case locality::BreakerState::kOpen:
      return LOCALITY_BREAKER_OPEN;
    case locality::BreakerState::kHalfOpen:
      return LOCALITY_BREAKER_HALF_OPEN;
    default:
      return LOCALITY_BREAKER_CLOSED;
  }
}

}  // namespace

extern "C" void locality_breaker_init(LocalityBreaker* breaker) noexcept {
  if (breaker != nullptr) locality::CircuitBreaker::reset(*breaker);
}

extern "C" int locality_breaker_allow(LocalityBreaker* breaker,
                                      const LocalityBreakerConfig* config, int64_t now,
                                      int* decision, LocalityStatus* status) noexcept {
  if (decision != nullptr) *decision = LOCALITY_BREAKER_ALLOWED;
  return locality::call_guarded(status, [&] {
    require(breaker, "a breaker");
    require(config, "a configuration");
    require(decision, "a place for the decision");
    locality::CircuitBreaker cb(*breaker, locality::BreakerConfig::from(*config));
    switch (cb.allow_call(now)) {
      case locality::BreakerDecision::kAllowed:
        *decision = LOCALITY_BREAKER_ALLOWED;
        break;
      case locality::BreakerDecision::kRejected:
        *decision = LOCALITY_BREAKER_REJECTED;
        break;
      case locality::BreakerDecision::kTrial:
        *decision = LOCALITY_BREAKER_TRIAL;
        break;
    }
  });
}

extern "C" int locality_breaker_record(LocalityBreaker* breaker,
                                       const LocalityBreakerConfig* config, int64_t now,
                                       int success, const char* reason,
                                       LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    require(breaker, "a breaker");
    require(config, "a configuration");
    locality::CircuitBreaker cb(*breaker, locality::BreakerConfig::from(*config));
    if (success)
      cb.record_success(now);
    else
      cb.record_failure(now, reason == nullptr ? std::string_view() : std::string_view(reason));
  });
}

extern "C" int locality_breaker_state_at(const LocalityBreaker* breaker,
                                         const LocalityBreakerConfig* config,
                                         int64_t now) noexcept {
  try {
    if (breaker == nullptr || config == nullptr) return LOCALITY_BREAKER_CLOSED;
    // state_at only reads; the view needs a mutable reference type.
    LocalityBreaker copy = *breaker;
    locality::CircuitBreaker cb(copy, locality::BreakerConfig::from(*config));
    return to_c(cb.state_at(now));
  } catch (...) {
    return LOCALITY_BREAKER_CLOSED;
  }
}

extern "C" const char* locality_breaker_state_name(int state) noexcept {
  switch (state) {
    case LOCALITY_BREAKER_CLOSED:
      return locality::breaker_state_name(locality::BreakerState::kClosed);
    case LOCALITY_BREAKER_OPEN:
      return locality::breaker_state_name(locality::BreakerState::kOpen);
    case LOCALITY_BREAKER_HALF_OPEN:
      return locality::breaker_state_name(locality::BreakerState::kHalfOpen);
    default:
      return "unknown";
  }
}
