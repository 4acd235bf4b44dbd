// circuit_breaker_test.cpp -- the per-region circuit breaker: every
// transition, the threshold, the reset timeout, the single-trial rule, and
// its C API (locality_core.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "locality/circuit_breaker.hpp"
#include "locality_core.h"

namespace {

using locality::BreakerConfig;
using locality::BreakerDecision;
using locality::BreakerState;
using locality::CircuitBreaker;

constexpr std::int64_t kSecond = 1'000'000;

BreakerConfig config(int threshold = 3, std::int64_t reset = 10 * kSecond,
                     std::int64_t trial = 5 * kSecond) {
  BreakerConfig c;
  c.failure_threshold = threshold;
  c.reset_timeout_us = reset;
  c.trial_timeout_us = trial;
  return c;
}

LocalityBreaker fresh() {
  LocalityBreaker b;
  locality_breaker_init(&b);
  return b;
}

// Opens b at time t with threshold failures.
void open_at(CircuitBreaker& cb, int threshold, std::int64_t t) {
  for (int i = 0; i < threshold; i++) cb.record_failure(t, "connection refused");
}

TEST(CircuitBreaker, StartsClosedAndAllowsCalls) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config());
  EXPECT_EQ(cb.state_at(0), BreakerState::kClosed);
  EXPECT_EQ(cb.allow_call(0), BreakerDecision::kAllowed);
  EXPECT_EQ(cb.allow_call(100 * kSecond), BreakerDecision::kAllowed);
}

TEST(CircuitBreaker, ZeroedMemoryIsAClosedBreaker) {
  LocalityBreaker b;
  std::memset(&b, 0, sizeof b);
  CircuitBreaker cb(b, config());
  EXPECT_EQ(cb.state_at(0), BreakerState::kClosed);
  EXPECT_EQ(cb.allow_call(0), BreakerDecision::kAllowed);
}

TEST(CircuitBreaker, StaysClosedBelowTheThreshold) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3));
  cb.record_failure(1, "refused");
  cb.record_failure(2, "refused");
  EXPECT_EQ(cb.state_at(3), BreakerState::kClosed);
  EXPECT_EQ(cb.allow_call(3), BreakerDecision::kAllowed);
  EXPECT_EQ(b.consecutive_failures, 2);
  EXPECT_STREQ(b.last_failure, "refused");
  EXPECT_EQ(b.last_failure_at, 2);
}

TEST(CircuitBreaker, OpensAtTheThresholdWithSinceAndWhy) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3));
  cb.record_failure(1 * kSecond, "refused");
  cb.record_failure(2 * kSecond, "refused");
  cb.record_failure(3 * kSecond, "timeout after 5000 ms");
  EXPECT_EQ(cb.state_at(3 * kSecond), BreakerState::kOpen);
  EXPECT_EQ(b.state, LOCALITY_BREAKER_OPEN);
  EXPECT_EQ(b.opened_at, 3 * kSecond);
  EXPECT_STREQ(b.last_failure, "timeout after 5000 ms");
  EXPECT_EQ(b.consecutive_failures, 3);
  EXPECT_EQ(cb.allow_call(3 * kSecond + 1), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, ThresholdOfOneOpensOnTheFirstFailure) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(1));
  cb.record_failure(7, "refused");
  EXPECT_EQ(cb.state_at(7), BreakerState::kOpen);
  EXPECT_EQ(cb.allow_call(8), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, ASuccessResetsTheCountOfConsecutiveFailures) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3));
  cb.record_failure(1, "refused");
  cb.record_failure(2, "refused");
  cb.record_success(3);
  EXPECT_EQ(b.consecutive_failures, 0);
  EXPECT_EQ(b.last_success_at, 3);
  cb.record_failure(4, "refused");
  cb.record_failure(5, "refused");
  EXPECT_EQ(cb.state_at(6), BreakerState::kClosed) << "failures were not consecutive";
  cb.record_failure(6, "refused");
  EXPECT_EQ(cb.state_at(6), BreakerState::kOpen);
}

TEST(CircuitBreaker, RejectsUntilTheResetTimeoutHasPassed) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond));
  open_at(cb, 3, 100 * kSecond);
  for (std::int64_t t : {100 * kSecond, 105 * kSecond, 110 * kSecond - 1}) {
    EXPECT_EQ(cb.state_at(t), BreakerState::kOpen) << t;
    EXPECT_EQ(cb.allow_call(t), BreakerDecision::kRejected) << t;
  }
  EXPECT_EQ(b.state, LOCALITY_BREAKER_OPEN) << "rejected calls change nothing";
  EXPECT_EQ(b.opened_at, 100 * kSecond);
}

TEST(CircuitBreaker, TurnsHalfOpenAfterTheResetTimeoutAndLetsOneTrialThrough) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond));
  open_at(cb, 3, 100 * kSecond);
  EXPECT_EQ(cb.state_at(110 * kSecond), BreakerState::kHalfOpen) << "seen without a call";
  EXPECT_EQ(b.state, LOCALITY_BREAKER_OPEN) << "state_at changes nothing";
  EXPECT_EQ(cb.allow_call(110 * kSecond), BreakerDecision::kTrial);
  EXPECT_EQ(b.state, LOCALITY_BREAKER_HALF_OPEN);
  EXPECT_EQ(cb.state_at(110 * kSecond), BreakerState::kHalfOpen);
}

TEST(CircuitBreaker, OnlyOneTrialAtATime) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond, 5 * kSecond));
  open_at(cb, 3, 0);
  ASSERT_EQ(cb.allow_call(10 * kSecond), BreakerDecision::kTrial);
  EXPECT_EQ(cb.allow_call(10 * kSecond), BreakerDecision::kRejected);
  EXPECT_EQ(cb.allow_call(12 * kSecond), BreakerDecision::kRejected);
  EXPECT_EQ(cb.allow_call(15 * kSecond - 1), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, ALostTrialExpiresAndTheNextCallerBecomesTheTrial) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond, 5 * kSecond));
  open_at(cb, 3, 0);
  ASSERT_EQ(cb.allow_call(10 * kSecond), BreakerDecision::kTrial);
  // Its backend was cancelled: no outcome is ever recorded.
  EXPECT_EQ(cb.allow_call(15 * kSecond), BreakerDecision::kTrial);
  EXPECT_EQ(cb.allow_call(15 * kSecond), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, ASuccessfulTrialClosesIt) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond));
  open_at(cb, 3, 0);
  ASSERT_EQ(cb.allow_call(10 * kSecond), BreakerDecision::kTrial);
  cb.record_success(11 * kSecond);
  EXPECT_EQ(cb.state_at(11 * kSecond), BreakerState::kClosed);
  EXPECT_EQ(b.consecutive_failures, 0);
  EXPECT_EQ(b.trial_running, 0);
  EXPECT_EQ(cb.allow_call(11 * kSecond), BreakerDecision::kAllowed);
  EXPECT_EQ(cb.allow_call(11 * kSecond), BreakerDecision::kAllowed);
  // The threshold counts afresh.
  cb.record_failure(12 * kSecond, "refused");
  EXPECT_EQ(cb.state_at(12 * kSecond), BreakerState::kClosed);
}

TEST(CircuitBreaker, AFailedTrialReopensItWithANewSince) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond));
  open_at(cb, 3, 0);
  ASSERT_EQ(cb.allow_call(10 * kSecond), BreakerDecision::kTrial);
  cb.record_failure(12 * kSecond, "still refused");
  EXPECT_EQ(cb.state_at(12 * kSecond), BreakerState::kOpen);
  EXPECT_EQ(b.opened_at, 12 * kSecond);
  EXPECT_STREQ(b.last_failure, "still refused");
  EXPECT_EQ(b.trial_running, 0);
  // The reset timeout runs from the new since.
  EXPECT_EQ(cb.allow_call(22 * kSecond - 1), BreakerDecision::kRejected);
  EXPECT_EQ(cb.allow_call(22 * kSecond), BreakerDecision::kTrial);
}

TEST(CircuitBreaker, OpenOnlyNotesOutcomesOfCallsLetThroughBeforeIt) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(3, 10 * kSecond));
  open_at(cb, 3, 1 * kSecond);
  cb.record_success(2 * kSecond);
  EXPECT_EQ(cb.state_at(2 * kSecond), BreakerState::kOpen) << "waits for its trial";
  EXPECT_EQ(b.last_success_at, 2 * kSecond);
  cb.record_failure(3 * kSecond, "late failure");
  EXPECT_EQ(b.opened_at, 1 * kSecond) << "since stays at the start of the outage";
  EXPECT_STREQ(b.last_failure, "late failure");
}

TEST(CircuitBreaker, ResetTimeoutZeroGoesHalfOpenAtOnce) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(1, 0));
  cb.record_failure(5, "refused");
  EXPECT_EQ(cb.state_at(5), BreakerState::kHalfOpen);
  EXPECT_EQ(cb.allow_call(5), BreakerDecision::kTrial);
  EXPECT_EQ(cb.allow_call(5), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, AHugeResetTimeoutDoesNotOverflow) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config(1, INT64_MAX, INT64_MAX));
  cb.record_failure(10 * kSecond, "refused");
  EXPECT_EQ(cb.allow_call(INT64_MAX - 1), BreakerDecision::kRejected);
}

TEST(CircuitBreaker, LongReasonsAreTruncatedAndTerminated) {
  LocalityBreaker b = fresh();
  CircuitBreaker cb(b, config());
  std::string reason(1000, 'x');
  cb.record_failure(1, reason);
  EXPECT_EQ(std::strlen(b.last_failure), sizeof b.last_failure - 1);
}

TEST(CircuitBreaker, StateNames) {
  EXPECT_STREQ(locality::breaker_state_name(BreakerState::kClosed), "closed");
  EXPECT_STREQ(locality::breaker_state_name(BreakerState::kOpen), "open");
  EXPECT_STREQ(locality::breaker_state_name(BreakerState::kHalfOpen), "half-open");
  EXPECT_STREQ(locality_breaker_state_name(LOCALITY_BREAKER_HALF_OPEN), "half-open");
  EXPECT_STREQ(locality_breaker_state_name(42), "unknown");
}

// Generated runs of calls and outcomes from several callers: at most one
// trial is ever outstanding (until recorded or expired), a rejection only
// happens while open or during a trial, and a closed breaker never rejects.
TEST(CircuitBreaker, NeverTwoTrialsAtOnceOverGeneratedRuns) {
  std::mt19937_64 rng(20240611);
  for (int run = 0; run < 200; run++) {
    LocalityBreaker b = fresh();
    BreakerConfig c = config(1 + static_cast<int>(rng() % 4), (rng() % 5) * kSecond,
                             1 + static_cast<std::int64_t>(rng() % 3) * kSecond);
    CircuitBreaker cb(b, c);
    std::int64_t now = 0;
    bool trial_out = false;
    std::int64_t trial_at = 0;
    for (int step = 0; step < 300; step++) {
      now += static_cast<std::int64_t>(rng() % (kSecond / 2));
      BreakerState before = cb.state_at(now);
      switch (rng() % 3) {
        case 0: {
          BreakerDecision d = cb.allow_call(now);
          if (d == BreakerDecision::kTrial) {
            ASSERT_FALSE(trial_out && now < trial_at + c.trial_timeout_us)
                << "second trial while one is running";
            trial_out = true;
            trial_at = now;
          }
          if (before == BreakerState::kClosed) {
            ASSERT_EQ(d, BreakerDecision::kAllowed);
          }
          if (d == BreakerDecision::kAllowed) {
            ASSERT_EQ(before, BreakerState::kClosed);
          }
          break;
        }
        case 1:
          cb.record_success(now);
          if (b.state != LOCALITY_BREAKER_OPEN) trial_out = false;
          break;
        default:
          cb.record_failure(now, "refused");
          if (b.state == LOCALITY_BREAKER_OPEN) trial_out = false;
          break;
      }
    }
  }
}

// --- The C API -------------------------------------------------------------

LocalityBreakerConfig c_config(int threshold = 3, std::int64_t reset = 10 * kSecond) {
  LocalityBreakerConfig c;
  c.failure_threshold = threshold;
  c.reset_timeout_us = reset;
  c.trial_timeout_us = 5 * kSecond;
  return c;
}

TEST(CircuitBreakerApi, RunsTheWholeCycle) {
  LocalityBreaker b = fresh();
  LocalityBreakerConfig c = c_config(2, 10 * kSecond);
  LocalityStatus status;
  int decision = -1;

  ASSERT_EQ(locality_breaker_allow(&b, &c, 0, &decision, &status), 1);
  EXPECT_EQ(decision, LOCALITY_BREAKER_ALLOWED);
  ASSERT_EQ(locality_breaker_record(&b, &c, 1, 0, "refused", &status), 1);
  ASSERT_EQ(locality_breaker_record(&b, &c, 2, 0, nullptr, &status), 1);
  EXPECT_EQ(locality_breaker_state_at(&b, &c, 2), LOCALITY_BREAKER_OPEN);
  EXPECT_STREQ(b.last_failure, "");
  ASSERT_EQ(locality_breaker_allow(&b, &c, 3, &decision, &status), 1);
  EXPECT_EQ(decision, LOCALITY_BREAKER_REJECTED);
  ASSERT_EQ(locality_breaker_allow(&b, &c, 2 + 10 * kSecond, &decision, &status), 1);
  EXPECT_EQ(decision, LOCALITY_BREAKER_TRIAL);
  ASSERT_EQ(locality_breaker_record(&b, &c, 3 + 10 * kSecond, 1, nullptr, &status), 1);
  EXPECT_EQ(locality_breaker_state_at(&b, &c, 3 + 10 * kSecond), LOCALITY_BREAKER_CLOSED);
}

TEST(CircuitBreakerApi, RefusesASettingOutOfRangeAndLetsTheCallThrough) {
  LocalityBreaker b = fresh();
  b.state = LOCALITY_BREAKER_OPEN;
  LocalityBreakerConfig c = c_config(0);
  LocalityStatus status;
  int decision = -1;
  EXPECT_EQ(locality_breaker_allow(&b, &c, 0, &decision, &status), 0);
  EXPECT_STREQ(status.sqlstate, "22023");
  EXPECT_EQ(decision, LOCALITY_BREAKER_ALLOWED) << "a broken breaker must not cut a region off";
  c = c_config(3, -1);
  EXPECT_EQ(locality_breaker_record(&b, &c, 0, 0, "x", &status), 0);
  EXPECT_STREQ(status.sqlstate, "22023");
  EXPECT_EQ(b.consecutive_failures, 0) << "unchanged";
}

TEST(CircuitBreakerApi, ReportsACorruptBreakerAndNullArguments) {
  LocalityBreaker b = fresh();
  b.state = 17;
  LocalityBreakerConfig c = c_config();
  LocalityStatus status;
  int decision = -1;
  EXPECT_EQ(locality_breaker_allow(&b, &c, 0, &decision, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(decision, LOCALITY_BREAKER_ALLOWED);
  EXPECT_EQ(locality_breaker_state_at(&b, &c, 0), LOCALITY_BREAKER_CLOSED);
  EXPECT_EQ(locality_breaker_allow(nullptr, &c, 0, &decision, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_breaker_record(&b, nullptr, 0, 1, nullptr, &status), 0);
  EXPECT_EQ(locality_breaker_state_at(nullptr, &c, 0), LOCALITY_BREAKER_CLOSED);
}

}  // namespace
