// hlc_test.cpp -- the hybrid logical clock (hlc.hpp): monotonic whatever
// the physical clock does, causality across regions whose clocks disagree,
// the (hlc, region) tie-break, the logical counter's carry, the skew bound.
#include "locality/hlc.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "crdt_test_util.hpp"
#include "locality_core.h"

namespace {

using crdt_test::base_seed;
using crdt_test::error_of;
using crdt_test::sqlstate_of;
using locality::Hlc;
using locality::hlc_logical;
using locality::hlc_make;
using locality::hlc_physical_ms;
using locality::HybridLogicalClock;

constexpr std::uint64_t kSkew = 500;         // locality.max_clock_skew's default
constexpr std::uint64_t kT = 1718000000000;  // some June 2024 afternoon, in ms

LocalityHlcStamp stamp(Hlc hlc, locality::RegionId region) { return LocalityHlcStamp{hlc, region}; }

TEST(Hlc, LayoutIs48BitsOfMillisecondsAnd16LogicalBits) {
  Hlc h = hlc_make(kT, 7);
  EXPECT_EQ(h, (kT << 16) | 7);
  EXPECT_EQ(hlc_physical_ms(h), kT);
  EXPECT_EQ(hlc_logical(h), 7);
  EXPECT_EQ(LOCALITY_HLC_PHYSICAL_MS(h), kT);
  EXPECT_EQ(LOCALITY_HLC_LOGICAL(h), 7);
  // 48 bits of milliseconds last until the year 10889.
  EXPECT_GT(LOCALITY_HLC_MAX_PHYSICAL_MS / (1000ull * 3600 * 24 * 366), 8900u);
  // A PostgreSQL TimestampTz converts with the epoch offset.
  std::int64_t pg_2024 = 771768000000000;  // 2024-06-15 12:00:00 UTC in us since 2000
  EXPECT_EQ(pg_2024 / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH, INT64_C(1718452800000));
}

TEST(Hlc, NowFollowsAPhysicalClockThatMovesAhead) {
  HybridLogicalClock clock;
  EXPECT_EQ(clock.now(kT), hlc_make(kT, 0));
  EXPECT_EQ(clock.now(kT + 5), hlc_make(kT + 5, 0));
  EXPECT_EQ(clock.now(kT + 5), hlc_make(kT + 5, 1));  // same millisecond
  EXPECT_EQ(clock.now(kT + 5), hlc_make(kT + 5, 2));
  EXPECT_EQ(clock.now(kT + 6), hlc_make(kT + 6, 0));  // the counter resets
  EXPECT_EQ(clock.last(), hlc_make(kT + 6, 0));
}

TEST(Hlc, NowIsMonotonicWhenThePhysicalClockGoesBackwards) {
  HybridLogicalClock clock;
  Hlc a = clock.now(kT);
  Hlc b = clock.now(kT - 1000);  // NTP stepped the clock back a second
  Hlc c = clock.now(kT - 999);
  Hlc d = clock.now(kT + 1);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_EQ(b, hlc_make(kT, 1));  // it holds the highest time seen
  EXPECT_EQ(d, hlc_make(kT + 1, 0));
}

TEST(Hlc, NowIsMonotonicUnderARandomlyJitteringClock) {
  std::uint64_t seed = base_seed(5000);
  SCOPED_TRACE("replay with LOCALITY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  HybridLogicalClock clock;
  std::uint64_t physical = kT;
  Hlc previous = 0;
  for (int i = 0; i < 100000; ++i) {
    physical += rng() % 3;
    std::uint64_t reading = physical - rng() % 2000;  // up to 2 s behind, at random
    Hlc h = clock.now(reading);
    ASSERT_GT(h, previous);
    ASSERT_LE(hlc_physical_ms(h), physical + 2);  // never far ahead of true time
    previous = h;
  }
}

TEST(Hlc, LogicalCounterOverflowCarriesIntoTheMillisecond) {
  HybridLogicalClock clock(hlc_make(kT, 0xFFFF));
  EXPECT_EQ(clock.now(kT), hlc_make(kT + 1, 0));
  // A burst of 200,000 stamps in one millisecond stays strictly increasing
  // and runs ahead of the physical clock by the carries only.
  HybridLogicalClock burst;
  Hlc previous = 0;
  for (int i = 0; i < 200000; ++i) {
    Hlc h = burst.now(kT);
    ASSERT_GT(h, previous);
    previous = h;
  }
  EXPECT_EQ(hlc_physical_ms(previous), kT + 200000 / 65536);
  // When the physical clock passes the carried time, it takes over again.
  EXPECT_EQ(burst.now(kT + 10), hlc_make(kT + 10, 0));
}

TEST(Hlc, AClockAtItsLastValueFailsAndStaysPut) {
  HybridLogicalClock clock(std::numeric_limits<Hlc>::max());
  EXPECT_EQ(sqlstate_of([&] { clock.now(kT); }), "22003");
  EXPECT_EQ(clock.last(), std::numeric_limits<Hlc>::max());
  HybridLogicalClock fresh;
  EXPECT_EQ(sqlstate_of([&] {
              fresh.update(std::numeric_limits<Hlc>::max(), LOCALITY_HLC_MAX_PHYSICAL_MS, kSkew);
            }),
            "22003");
  EXPECT_EQ(fresh.last(), 0u);
}

TEST(Hlc, PhysicalReadingsBeyond48BitsAre22008) {
  HybridLogicalClock clock;
  EXPECT_EQ(sqlstate_of([&] { clock.now(LOCALITY_HLC_MAX_PHYSICAL_MS + 1); }), "22008");
  EXPECT_EQ(sqlstate_of([&] { clock.update(0, LOCALITY_HLC_MAX_PHYSICAL_MS + 1, kSkew); }),
            "22008");
  EXPECT_EQ(clock.last(), 0u);
  EXPECT_EQ(clock.now(LOCALITY_HLC_MAX_PHYSICAL_MS), hlc_make(LOCALITY_HLC_MAX_PHYSICAL_MS, 0));
}

TEST(Hlc, UpdateMovesTheClockPastWhatItReceived) {
  HybridLogicalClock clock;
  clock.now(kT);
  Hlc received = hlc_make(kT + 300, 4);  // a sender 300 ms ahead
  Hlc r = clock.update(received, kT + 1, kSkew);
  EXPECT_EQ(r, hlc_make(kT + 300, 5));
  EXPECT_GT(clock.now(kT + 2), received);
  // A received stamp behind the clock changes nothing but the tick.
  Hlc before = clock.last();
  EXPECT_EQ(clock.update(hlc_make(kT - 50, 0), kT + 3, kSkew), before + 1);
  // 0 means "unknown" and is ignored.
  before = clock.last();
  EXPECT_EQ(clock.update(0, kT + 3, kSkew), before + 1);
  // A physical clock ahead of everything wins.
  EXPECT_EQ(clock.update(hlc_make(kT + 400, 0), kT + 1000, kSkew), hlc_make(kT + 1000, 0));
}

// The heart of causal last-write-wins: B's clock is 400 ms behind A's.  B
// observes A's write and then writes; B's write must carry the larger stamp
// even though B's physical clock reads an earlier time than A's did.
TEST(Hlc, AWriteAfterObservingAnotherIsLaterEvenWithAClock400MsBehind) {
  HybridLogicalClock a, b;
  const std::uint64_t true_time = kT;
  Hlc write_a = a.now(true_time);                  // region 1 writes
  b.update(write_a, true_time + 80 - 400, kSkew);  // 80 ms WAN later, B's clock -400 ms
  Hlc write_b = b.now(true_time + 90 - 400);       // then B writes
  EXPECT_LT(true_time + 90 - 400, true_time);      // B's commit timestamp is earlier...
  EXPECT_LT(write_a, write_b);                     // ...and its stamp later
  EXPECT_LT(locality::stamp_compare(stamp(write_a, 1), stamp(write_b, 2)), 0);
  // Whatever the region ids: causality beats the tie-break.
  EXPECT_LT(locality::stamp_compare(stamp(write_a, 9), stamp(write_b, 2)), 0);
}

TEST(Hlc, CausalityHoldsAcrossRelays) {
  // 1 writes, 2 (300 ms behind) observes and writes, 3 (450 ms behind)
  // observes 2's write and writes: 1 < 2 < 3.
  HybridLogicalClock r1, r2, r3;
  Hlc w1 = r1.now(kT);
  r2.update(w1, kT + 50 - 300, kSkew);
  Hlc w2 = r2.now(kT + 51 - 300);
  r3.update(w2, kT + 100 - 450, kSkew);
  Hlc w3 = r3.now(kT + 101 - 450);
  EXPECT_LT(w1, w2);
  EXPECT_LT(w2, w3);
}

TEST(Hlc, ExactTiesBreakByRegionIdTheSameEverywhere) {
  Hlc h = hlc_make(kT, 0);  // two regions commit in the same millisecond
  EXPECT_EQ(locality::stamp_compare(stamp(h, 1), stamp(h, 2)), -1);
  EXPECT_EQ(locality::stamp_compare(stamp(h, 2), stamp(h, 1)), 1);
  EXPECT_EQ(locality::stamp_compare(stamp(h, 2), stamp(h, 2)), 0);
  EXPECT_TRUE(locality::stamp_before(stamp(h, 1), stamp(h, 2)));
  // The clock decides before the region does.
  EXPECT_EQ(locality::stamp_compare(stamp(h + 1, 1), stamp(h, 65535)), 1);
  LocalityHlcStamp x = stamp(h, 3), y = stamp(h, 4);
  EXPECT_EQ(locality_hlc_stamp_compare(&x, &y), -1);
  EXPECT_EQ(locality_hlc_stamp_compare(&y, &x), 1);
  EXPECT_EQ(locality_hlc_stamp_compare(&x, &x), 0);
}

TEST(Hlc, AStampFurtherAheadThanTheSkewBoundIsRefused) {
  HybridLogicalClock clock;
  clock.now(kT);
  Hlc before = clock.last();
  locality::Error e = error_of([&] { clock.update(hlc_make(kT + 501, 0), kT, kSkew); });
  EXPECT_EQ(e.sqlstate(), "55000");
  EXPECT_STREQ(e.what(), "remote clock is 501 ms ahead of the local clock");
  EXPECT_NE(e.detail().find("locality.max_clock_skew allows 500 ms"), std::string::npos);
  EXPECT_NE(e.hint().find("NTP"), std::string::npos);
  EXPECT_EQ(clock.last(), before);  // refused: the clock did not move
  // Exactly at the bound, and any logical part there, is accepted.
  EXPECT_EQ(clock.update(hlc_make(kT + 500, 0xFFFE), kT, kSkew), hlc_make(kT + 500, 0xFFFF));
}

TEST(Hlc, ARefusedChangeIsAcceptedOnceTheLocalClockCatchesUp) {
  HybridLogicalClock clock;
  Hlc from_the_future = hlc_make(kT + 2000, 0);
  EXPECT_EQ(sqlstate_of([&] { clock.update(from_the_future, kT, kSkew); }), "55000");
  EXPECT_EQ(sqlstate_of([&] { clock.update(from_the_future, kT + 1499, kSkew); }), "55000");
  EXPECT_GT(clock.update(from_the_future, kT + 1500, kSkew), from_the_future);
}

TEST(Hlc, SkewBoundZeroAndHugeValues) {
  HybridLogicalClock clock;
  EXPECT_EQ(sqlstate_of([&] { clock.update(hlc_make(kT + 1, 0), kT, 0); }), "55000");
  EXPECT_EQ(sqlstate_of([&] { clock.update(hlc_make(kT, 9), kT, 0); }), "");
  EXPECT_EQ(sqlstate_of([&] {
              clock.update(hlc_make(LOCALITY_HLC_MAX_PHYSICAL_MS, 0), kT,
                           std::numeric_limits<std::uint64_t>::max());
            }),
            "");
}

// Generated executions: regions with skewed, jittering clocks do local
// writes and receive each other's stamps in random order.  Whenever event e
// happened before event f (tracked with vector clocks), stamp(e) < stamp(f);
// and no clock runs further ahead of true time than the largest skew.
TEST(Hlc, HappenedBeforeImpliesStampOrderInGeneratedExecutions) {
  std::uint64_t seed = base_seed(6000);
  SCOPED_TRACE("replay with LOCALITY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Event {
    Hlc hlc;
    std::vector<int> vc;
  };
  int checks = 0;
  for (int run = 0; run < 50; ++run) {
    const int n = 2 + static_cast<int>(rng() % 4);
    std::vector<HybridLogicalClock> clocks(static_cast<std::size_t>(n));
    std::vector<std::int64_t> offset(static_cast<std::size_t>(n));
    for (auto& o : offset) o = static_cast<std::int64_t>(rng() % 801) - 400;  // +-400 ms
    std::vector<std::vector<int>> vc(static_cast<std::size_t>(n),
                                     std::vector<int>(static_cast<std::size_t>(n), 0));
    std::vector<Event> events;
    std::uint64_t now = kT;
    for (int step = 0; step < 400; ++step) {
      now += rng() % 5;
      auto i = static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(n));
      std::uint64_t reading =
          static_cast<std::uint64_t>(static_cast<std::int64_t>(now) + offset[i]);
      Hlc h;
      if (events.empty() || rng() % 2 == 0) {
        h = clocks[i].now(reading);
      } else {
        const Event& m = events[rng() % events.size()];  // a message: any earlier event
        h = clocks[i].update(m.hlc, reading, 1000);
        for (std::size_t r = 0; r < vc[i].size(); ++r) vc[i][r] = std::max(vc[i][r], m.vc[r]);
      }
      ++vc[i][i];
      events.push_back(Event{h, vc[i]});
      ASSERT_LE(hlc_physical_ms(h), now + 400 + 1);
    }
    for (std::size_t e = 0; e < events.size(); ++e)
      for (std::size_t f = 0; f < events.size(); ++f) {
        bool before = e != f;
        for (std::size_t r = 0; r < events[e].vc.size() && before; ++r)
          before = events[e].vc[r] <= events[f].vc[r];
        if (before) {
          ASSERT_LT(events[e].hlc, events[f].hlc) << "events " << e << " -> " << f;
          ++checks;
        }
      }
  }
  std::printf("  hlc: %d happened-before pairs checked (seed %llu)\n", checks,
              static_cast<unsigned long long>(seed));
}

// ---- derived commit stamps (docs/conflicts.md section 8) ----

TEST(HlcCommit, DerivedWhileTheClockHasNotRunAheadEvenTwiceInOneMillisecond) {
  HybridLogicalClock c;
  bool derived = false;
  EXPECT_EQ(c.commit(kT, &derived), hlc_make(kT, 0));
  EXPECT_TRUE(derived);
  EXPECT_EQ(c.last(), hlc_make(kT, 0));
  derived = false;
  EXPECT_EQ(c.commit(kT, &derived), hlc_make(kT, 0));  // a second commit in the same ms
  EXPECT_TRUE(derived);
  EXPECT_EQ(c.commit(kT + 3, &derived), hlc_make(kT + 3, 0));
  EXPECT_TRUE(derived);
  EXPECT_EQ(c.last(), hlc_make(kT + 3, 0));
}

TEST(HlcCommit, AfterObservingAStampAheadTheCommitIsStoredAndLater) {
  HybridLogicalClock c;
  bool derived = true;
  Hlc received = hlc_make(kT + 300, 7);  // a region 300 ms ahead
  c.update(received, kT, kSkew);
  Hlc s = c.commit(kT + 1, &derived);
  EXPECT_FALSE(derived);
  EXPECT_GT(s, received);
  EXPECT_EQ(c.last(), s);
  // Once the physical clock has passed everything seen, commits are derived again.
  EXPECT_EQ(c.commit(kT + 301, &derived), hlc_make(kT + 301, 0));
  EXPECT_TRUE(derived);
}

TEST(HlcCommit, AStampObservedInTheSameMillisecondIsNotDerivable) {
  HybridLogicalClock c;
  bool derived = true;
  c.update(hlc_make(kT, 5), kT, kSkew);  // last = (kT, 6): above kT << 16
  Hlc s = c.commit(kT, &derived);
  EXPECT_FALSE(derived);
  EXPECT_EQ(s, hlc_make(kT, 7));
  EXPECT_EQ(c.commit(kT + 1, &derived), hlc_make(kT + 1, 0));
  EXPECT_TRUE(derived);
}

TEST(HlcCommit, APhysicalClockThatWentBackGivesStoredStamps) {
  HybridLogicalClock c;
  bool derived = true;
  c.commit(kT + 10, &derived);
  Hlc s = c.commit(kT, &derived);
  EXPECT_FALSE(derived);
  EXPECT_EQ(s, hlc_make(kT + 10, 1));
}

TEST(HlcCommit, WitnessOnlyMovesTheClockAhead) {
  HybridLogicalClock c(hlc_make(kT, 4));
  c.witness(hlc_make(kT, 0));
  EXPECT_EQ(c.last(), hlc_make(kT, 4));
  c.witness(hlc_make(kT + 2, 0));
  EXPECT_EQ(c.last(), hlc_make(kT + 2, 0));
}

TEST(HlcCommit, ACommitTimestampStandsForItsMillisecond) {
  EXPECT_EQ(locality::hlc_of_commit_time(0), hlc_make(946684800000ULL, 0));
  EXPECT_EQ(locality::hlc_of_commit_time(1999), hlc_make(946684800001ULL, 0));
  // 2024-06-10 06:13:20.123456 UTC as a TimestampTz
  std::int64_t ts = (static_cast<std::int64_t>(kT) - 946684800000LL) * 1000 + 123456;
  EXPECT_EQ(locality::hlc_of_commit_time(ts), hlc_make(kT + 123, 0));
  EXPECT_EQ(locality_hlc_of_commit_time(ts), hlc_make(kT + 123, 0));
}

// Generated executions of the shim's rule: a local commit reads the clock
// at pre-commit (commit()); if derived, its stamp is the millisecond of a
// commit timestamp taken later (0-1.5 ms), and the clock witnesses it at
// commit; else the stamp commit() returned is stored.  Applying a commit
// elsewhere updates that region's clock with the commit's final stamp.
// Physical clocks are skewed by up to +-400 ms but do not step back.
// Checked: e happened before f implies stamp(e) < stamp(f) across regions
// and stamp(e) <= stamp(f) within one region, equal only for two derived
// stamps; and a region's stamps never decrease in its commit order.
TEST(HlcCommit, HappenedBeforeImpliesStampOrderWithDerivedStamps) {
  std::uint64_t seed = base_seed(7000);
  SCOPED_TRACE("replay with LOCALITY_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  struct Commit {
    int region;
    Hlc hlc;
    bool derived;
    std::vector<int> vc;
  };
  int checks = 0, derived_count = 0, stored_count = 0, ties = 0;
  for (int run = 0; run < 50; ++run) {
    const int n = 2 + static_cast<int>(rng() % 3);
    std::vector<HybridLogicalClock> clocks(static_cast<std::size_t>(n));
    std::vector<std::int64_t> offset_us(static_cast<std::size_t>(n));
    for (auto& o : offset_us) o = (static_cast<std::int64_t>(rng() % 801) - 400) * 1000;
    std::vector<std::vector<int>> vc(static_cast<std::size_t>(n),
                                     std::vector<int>(static_cast<std::size_t>(n), 0));
    std::vector<Commit> commits;
    std::vector<Hlc> last_of_region(static_cast<std::size_t>(n), 0);
    std::int64_t now_us = static_cast<std::int64_t>(kT) * 1000;
    for (int step = 0; step < 600; ++step) {
      now_us += static_cast<std::int64_t>(rng() % 700);  // often several events per ms
      auto i = static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(n));
      auto reading_us = [&] { return now_us + offset_us[i]; };
      if (commits.empty() || rng() % 3 != 0) {
        bool derived = false;
        Hlc h = clocks[i].commit(static_cast<std::uint64_t>(reading_us() / 1000), &derived);
        if (derived) {
          now_us += static_cast<std::int64_t>(rng() % 1500);  // the commit timestamp comes later
          std::int64_t pg_us = reading_us() - (946684800000LL * 1000);
          h = locality::hlc_of_commit_time(pg_us);
          clocks[i].witness(h);
          ++derived_count;
        } else {
          ++stored_count;
        }
        ++vc[i][i];
        ASSERT_GE(h, last_of_region[i]) << "region " << i << " went back in commit order";
        last_of_region[i] = h;
        commits.push_back(Commit{static_cast<int>(i), h, derived, vc[i]});
      } else {
        const Commit& m = commits[rng() % commits.size()];
        if (m.region == static_cast<int>(i)) continue;
        clocks[i].update(m.hlc, static_cast<std::uint64_t>(reading_us() / 1000), 1000);
        for (std::size_t r = 0; r < vc[i].size(); ++r) vc[i][r] = std::max(vc[i][r], m.vc[r]);
      }
    }
    for (std::size_t e = 0; e < commits.size(); ++e)
      for (std::size_t f = 0; f < commits.size(); ++f) {
        bool before = e != f;
        for (std::size_t r = 0; r < commits[e].vc.size() && before; ++r)
          before = commits[e].vc[r] <= commits[f].vc[r];
        if (!before) continue;
        ++checks;
        if (commits[e].region != commits[f].region) {
          ASSERT_LT(commits[e].hlc, commits[f].hlc) << "commits " << e << " -> " << f;
        } else {
          ASSERT_LE(commits[e].hlc, commits[f].hlc) << "commits " << e << " -> " << f;
          if (commits[e].hlc == commits[f].hlc) {
            ASSERT_TRUE(commits[e].derived && commits[f].derived) << "commits " << e << " -> " << f;
            ++ties;
          }
        }
      }
  }
  EXPECT_GT(derived_count, 0);
  EXPECT_GT(stored_count, 0);
  std::printf("  hlc commit: %d happened-before pairs, %d derived and %d stored stamps, %d same-region ties (seed %llu)\n",
              checks, derived_count, stored_count, ties, static_cast<unsigned long long>(seed));
}

// ---- the C API ----

TEST(HlcApi, NowAndUpdateKeepThePlainState) {
  LocalityHlc clock = {0};
  LocalityStatus status;
  uint64_t s1 = 0, s2 = 0;
  ASSERT_EQ(locality_hlc_now(&clock, kT, &s1, &status), 1);
  EXPECT_EQ(s1, hlc_make(kT, 0));
  EXPECT_EQ(clock.last, s1);
  ASSERT_EQ(locality_hlc_update(&clock, hlc_make(kT + 100, 0), kT, kSkew, &s2, &status), 1);
  EXPECT_EQ(s2, hlc_make(kT + 100, 1));
  EXPECT_EQ(clock.last, s2);
  ASSERT_EQ(locality_hlc_now(&clock, kT, nullptr, &status), 1);
  EXPECT_EQ(clock.last, s2 + 1);
}

TEST(HlcApi, FailuresLeaveTheClockAndReportTheStatus) {
  LocalityHlc clock = {hlc_make(kT, 0)};
  LocalityStatus status;
  uint64_t s = 42;
  EXPECT_EQ(locality_hlc_update(&clock, hlc_make(kT + 10000, 0), kT, kSkew, &s, &status), 0);
  EXPECT_STREQ(status.sqlstate, "55000");
  EXPECT_STREQ(status.message, "remote clock is 10000 ms ahead of the local clock");
  EXPECT_EQ(clock.last, hlc_make(kT, 0));
  EXPECT_EQ(s, 42u);
  EXPECT_EQ(locality_hlc_now(nullptr, kT, &s, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_hlc_update(nullptr, 0, kT, kSkew, &s, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  int derived = 0;
  EXPECT_EQ(locality_hlc_commit(nullptr, kT, &s, &derived, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
}

TEST(HlcApi, CommitAndWitnessKeepThePlainState) {
  LocalityHlc clock = {0};
  LocalityStatus status;
  uint64_t s = 0;
  int derived = 0;
  ASSERT_EQ(locality_hlc_commit(&clock, kT, &s, &derived, &status), 1);
  EXPECT_EQ(derived, 1);
  EXPECT_EQ(s, hlc_make(kT, 0));
  EXPECT_EQ(clock.last, s);
  locality_hlc_witness(&clock, hlc_make(kT + 1, 0));
  EXPECT_EQ(clock.last, hlc_make(kT + 1, 0));
  ASSERT_EQ(locality_hlc_commit(&clock, kT, &s, &derived, &status), 1);
  EXPECT_EQ(derived, 0);
  EXPECT_EQ(s, hlc_make(kT + 1, 1));
  EXPECT_EQ(clock.last, s);
}

TEST(HlcPersist, TheMarkIsWrittenOnlyWhenTheClockPassesIt) {
  Hlc last = hlc_make(kT, 7);
  EXPECT_EQ(locality_hlc_reservation(last, 0, 1000), last + hlc_make(1000, 0));  // first use
  EXPECT_EQ(locality_hlc_reservation(last, last, 1000), 0u);                      // covered
  EXPECT_EQ(locality_hlc_reservation(last, last + 1, 1000), 0u);
  EXPECT_EQ(locality_hlc_reservation(last + 1, last, 1000), last + 1 + hlc_make(1000, 0));
  // Saturates instead of wrapping.
  Hlc top = std::numeric_limits<Hlc>::max();
  EXPECT_EQ(locality_hlc_reservation(top - 5, 0, 1000), top);
  EXPECT_EQ(locality_hlc_reservation(hlc_make(kT, 0), 0, top), top);
}

TEST(HlcPersist, ARestoredClockStartsAboveTheMarkAndNeverGoesBack) {
  LocalityHlc clock = {0};
  locality_hlc_restore(&clock, hlc_make(kT + 3600000, 3));  // saved an hour ahead
  LocalityStatus status;
  uint64_t s = 0;
  ASSERT_EQ(locality_hlc_now(&clock, kT, &s, &status), 1);
  EXPECT_EQ(s, hlc_make(kT + 3600000, 4));
  locality_hlc_restore(&clock, hlc_make(kT, 0));  // an older mark changes nothing
  EXPECT_EQ(clock.last, s);
  locality_hlc_restore(nullptr, 1);  // ignored
}

// Generated runs of a clock that persists its mark as the shim does
// (reservation() before a stamp is used) and restarts at random points,
// losing its memory, with a physical clock that may jump back across the
// restart and remote stamps up to the skew bound ahead: every stamp handed
// out after a restart is above every stamp handed out or observed before.
TEST(HlcPersist, EveryStampAfterARestartIsAboveEverythingBefore) {
  std::uint64_t seed = base_seed(7000);
  for (int run = 0; run < 200; ++run) {
    std::mt19937_64 rng(seed + static_cast<std::uint64_t>(run));
    SCOPED_TRACE("seed " + std::to_string(seed + static_cast<std::uint64_t>(run)));
    LocalityHlc clock = {0};
    Hlc on_disk = 0;   // the mark the shim would have written (durably)
    Hlc highest = 0;   // every stamp handed out or observed so far
    std::uint64_t pt = kT;
    const std::uint64_t window = 1 + rng() % 1000;
    for (int step = 0; step < 300; ++step) {
      LocalityStatus status;
      LocalityHlc next = clock;
      uint64_t s = 0;
      pt += rng() % 20;
      switch (rng() % 6) {
        case 0: {  // a restart: memory lost, the physical clock may be behind
          clock = LocalityHlc{0};
          locality_hlc_restore(&clock, on_disk);
          pt -= std::min<std::uint64_t>(pt - kT + 1, rng() % 2000);
          continue;
        }
        case 1: {  // observe a remote stamp up to the bound ahead
          Hlc r = hlc_make(pt + rng() % (kSkew + 1), static_cast<std::uint16_t>(rng()));
          ASSERT_EQ(locality_hlc_update(&next, r, pt, kSkew, &s, &status), 1) << status.message;
          if (r > highest) highest = r;
          break;
        }
        default:
          ASSERT_EQ(locality_hlc_now(&next, pt, &s, &status), 1) << status.message;
          ASSERT_GT(s, highest);  // the property, also right after a restart
          break;
      }
      // The shim writes the mark before the new state is used.
      Hlc mark = locality_hlc_reservation(next.last, on_disk, window);
      if (mark != 0) on_disk = mark;
      ASSERT_GE(on_disk, next.last);
      clock = next;
      if (s > highest) highest = s;
    }
  }
}

}  // namespace
