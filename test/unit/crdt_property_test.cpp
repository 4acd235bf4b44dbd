// crdt_property_test.cpp -- the properties every CRDT merge must have,
// over generated states (STYLE.md, "Tests"): commutative, associative,
// idempotent, with the empty state as identity; counters converge to the
// exact sum of every increment; the orset without tombstones answers
// exactly what the textbook orset with tombstones answers; text and binary
// forms round-trip; decoding survives arbitrary bytes.
//
// States come from simulated regions doing random local operations and
// pulling each other's states in random order (every reachable state), and
// from direct random generation (every canonical state).  Each test prints
// its seed on failure; LOCALITY_TEST_SEED=<seed> replays it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crdt_test_util.hpp"
#include "locality/crdt.hpp"
#include "locality/crdt_encoding.hpp"

namespace {

using namespace crdt_test;
using locality::RegionId;

constexpr int kRuns = 200;     // simulations per kind
constexpr int kSteps = 150;    // operations per simulation
constexpr int kTriples = 100;  // law checks per simulation

struct Seeded {
  explicit Seeded(std::uint64_t seed)
      : rng(seed), trace("replay with LOCALITY_TEST_SEED=" + std::to_string(seed)) {}
  std::mt19937_64 rng;
  std::string trace;
  int below(int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); }
  bool chance(int percent) { return below(100) < percent; }
};

// The laws, on three states of one kind.  Returns how many checks ran.
int check_laws(CrdtKind kind, const std::string& a, const std::string& b, const std::string& c) {
  std::string ab = merge(kind, a, b);
  EXPECT_EQ(ab, merge(kind, b, a)) << "commutative: " << hex(a) << " " << hex(b);
  EXPECT_EQ(merge(kind, ab, c), merge(kind, a, merge(kind, b, c)))
      << "associative: " << hex(a) << " " << hex(b) << " " << hex(c);
  EXPECT_EQ(merge(kind, a, a), a) << "idempotent: " << hex(a);
  EXPECT_EQ(merge(kind, a, empty(kind)), a) << "identity: " << hex(a);
  EXPECT_EQ(merge(kind, ab, a), ab) << "absorbs: " << hex(a) << " " << hex(b);
  EXPECT_LE(ab.size(), LOCALITY_CRDT_MERGE_BOUND(a.size(), b.size())) << "merge bound";
  // Without floors on both sides (every orset, counters never deleted), the
  // merge is no larger than its inputs together.
  if (kind == CrdtKind::kOrSet || (a[0] == b[0] && (a[0] & 0xF0) == 0x10)) {
    EXPECT_LE(ab.size(), a.size() + b.size()) << "merge bound";
  }
  EXPECT_NO_THROW(locality::crdt_validate(kind, ab));
  return 7;
}

// Text and binary round trips of one state.
void check_round_trips(CrdtKind kind, const std::string& v) {
  EXPECT_NO_THROW(locality::crdt_validate(kind, v)) << hex(v);
  std::string named = format(kind, v);
  EXPECT_EQ(parse(kind, named, 0), v) << named;
  locality::RegionNames none;
  std::string ids = format(kind, v, none);
  EXPECT_EQ(parse(kind, ids, 0, none), v) << ids;
}

std::vector<std::string> sample(Seeded& s, const std::vector<std::string>& pool, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(pool[static_cast<std::size_t>(s.below(static_cast<int>(pool.size())))]);
  return out;
}

// ---- counters: simulated regions ----

struct CounterRun {
  std::vector<std::string> pool;
  int laws = 0;
};

// Every region increments its own slot, deletes the row (resets what it has
// seen), inserts it again over the tombstone (continues its state with a
// new value) and pulls others' states at random.  A region's value must
// always be the sum of the increments it has seen and no delete it has seen
// had seen: with whole-state merges, a prefix of each origin's increments
// minus a shorter prefix (the floor).
CounterRun simulate_counters(CrdtKind kind, Seeded& s) {
  const int regions = 2 + s.below(4);
  std::vector<std::string> state(static_cast<std::size_t>(regions), empty(kind));
  // seen[i][r]: how many of region r's increments region i has seen;
  // floor[i][r]: how many of them a delete region i has seen had seen.
  std::vector<std::vector<std::size_t>> seen(
      static_cast<std::size_t>(regions),
      std::vector<std::size_t>(static_cast<std::size_t>(regions), 0));
  auto floor = seen;
  // prefix[r][k]: sum of region r's first k increments.
  std::vector<std::vector<std::int64_t>> prefix(static_cast<std::size_t>(regions), {0});
  CounterRun run;
  run.pool.push_back(empty(kind));
  auto expected = [&](std::size_t i) {
    std::int64_t sum = 0;
    for (std::size_t r = 0; r < prefix.size(); ++r)
      sum += prefix[r][seen[i][r]] - prefix[r][floor[i][r]];
    return sum;
  };
  auto credit = [&](std::size_t i, std::int64_t delta) {
    prefix[i].push_back(prefix[i].back() + delta);
    seen[i][i] = prefix[i].size() - 1;
  };
  for (int step = 0; step < kSteps; ++step) {
    std::size_t i = static_cast<std::size_t>(s.below(regions));
    int op = s.below(100);
    if (op < 50) {
      std::int64_t delta = s.below(1000);
      if (kind == CrdtKind::kPnCounter && s.chance(40)) delta = -delta;
      state[i] = add(kind, state[i], static_cast<RegionId>(i + 1), delta);
      credit(i, delta);
    } else if (op < 58) {
      // DELETE: the tombstone keeps the state with everything seen reset.
      state[i] = reset(kind, state[i]);
      EXPECT_EQ(reset(kind, state[i]), state[i]) << "reset is idempotent";
      floor[i] = seen[i];
    } else if (op < 64) {
      // INSERT over the tombstone with a plain value: one increment.
      std::int64_t delta = s.below(50);
      if (kind == CrdtKind::kPnCounter && s.chance(30)) delta = -delta;
      std::string value = parse(kind, std::to_string(delta), 1 + s.below(3));
      state[i] = continue_from(kind, state[i], value, static_cast<RegionId>(i + 1));
      credit(i, delta);
    } else {
      std::size_t j = static_cast<std::size_t>(s.below(regions));
      state[i] = merge(kind, state[i], state[j]);
      for (std::size_t r = 0; r < seen[i].size(); ++r) {
        seen[i][r] = std::max(seen[i][r], seen[j][r]);
        floor[i][r] = std::max(floor[i][r], floor[j][r]);
      }
    }
    EXPECT_EQ(locality::counter_value(kind, state[i]), expected(i)) << "region " << i + 1;
    run.pool.push_back(state[i]);
  }
  // Everyone pulls everyone: all equal, and the value is the exact sum of
  // the increments no delete observed.
  std::string all = empty(kind);
  for (const std::string& v : state) all = merge(kind, all, v);
  std::int64_t total = 0;
  for (std::size_t r = 0; r < prefix.size(); ++r) {
    std::size_t f = 0;
    for (const auto& fl : floor) f = std::max(f, fl[r]);
    total += prefix[r].back() - prefix[r][f];
  }
  EXPECT_EQ(locality::counter_value(kind, all), total);
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < state.size(); ++i)
      for (std::size_t j = 0; j < state.size(); ++j) state[i] = merge(kind, state[i], state[j]);
  for (const std::string& v : state) EXPECT_EQ(v, all);
  return run;
}

// Any canonical counter: random regions, random (also huge) slots.
std::string random_counter(CrdtKind kind, Seeded& s) {
  std::map<RegionId, std::pair<std::uint64_t, std::uint64_t>> slots;
  int n = s.below(6);
  for (int k = 0; k < n; ++k) {
    RegionId r = static_cast<RegionId>(s.chance(80) ? 1 + s.below(8) : 1 + s.below(65535));
    auto value = [&]() -> std::uint64_t {
      switch (s.below(4)) {
        case 0:
          return 0;
        case 1:
          return static_cast<std::uint64_t>(s.below(100));
        case 2:
          return s.rng() >> 1;  // up to INT64_MAX
        default:
          return 0x7FFFFFFFFFFFFFFFull - static_cast<std::uint64_t>(s.below(3));
      }
    };
    slots[r] = {value(), kind == CrdtKind::kPnCounter ? value() : 0};
  }
  // Some with floors: anything from 0 to the count.
  bool floors = s.chance(40);
  auto floor_of = [&](std::uint64_t count) -> std::uint64_t {
    switch (s.below(3)) {
      case 0:
        return 0;
      case 1:
        return count;
      default:
        return count == 0 ? 0 : s.rng() % (count + 1);
    }
  };
  std::string text = "{";
  for (const auto& [r, v] : slots) {
    if (text.size() > 1) text += ",";
    text += std::to_string(r) + ":" + std::to_string(v.first);
    if (kind == CrdtKind::kPnCounter) text += "-" + std::to_string(v.second);
    if (floors) {
      text += "/" + std::to_string(floor_of(v.first));
      if (kind == CrdtKind::kPnCounter) text += "-" + std::to_string(floor_of(v.second));
    }
  }
  return parse(kind, text + "}", 0, locality::RegionNames());
}

void counter_properties(CrdtKind kind, std::uint64_t seed_base) {
  int laws = 0, states = 0;
  for (int run = 0; run < kRuns; ++run) {
    std::uint64_t seed = seed_base + static_cast<std::uint64_t>(run);
    Seeded s(seed);
    SCOPED_TRACE(s.trace);
    CounterRun r = simulate_counters(kind, s);
    for (int k = 0; k < 20; ++k) r.pool.push_back(random_counter(kind, s));
    states += static_cast<int>(r.pool.size());
    for (const std::string& v : r.pool) check_round_trips(kind, v);
    for (int t = 0; t < kTriples; ++t) {
      auto abc = sample(s, r.pool, 3);
      laws += check_laws(kind, abc[0], abc[1], abc[2]);
    }
    if (::testing::Test::HasFailure()) return;
  }
  std::printf("  %s: %d generated states, %d law checks (seeds %llu..%llu)\n",
              locality::crdt_type_name(kind), states, laws,
              static_cast<unsigned long long>(seed_base),
              static_cast<unsigned long long>(seed_base + kRuns - 1));
}

TEST(GCounterProperties, MergeIsCommutativeAssociativeIdempotentAndCountsEveryIncrementOnce) {
  counter_properties(CrdtKind::kGCounter, base_seed(1000));
}

TEST(PnCounterProperties, MergeIsCommutativeAssociativeIdempotentAndCountsEveryIncrementOnce) {
  counter_properties(CrdtKind::kPnCounter, base_seed(2000));
}

// ---- orset: simulated regions against the textbook orset ----

// The textbook add-wins observed-remove set: every add a unique tag, every
// remove a tombstone for each tag it observed, merge = union of both.
struct ReferenceSet {
  std::set<std::pair<std::string, int>> adds;  // (element, unique tag)
  std::set<int> removed;

  std::vector<std::string> elements() const {
    std::set<std::string> out;
    for (const auto& [e, tag] : adds)
      if (!removed.count(tag)) out.insert(e);
    return {out.begin(), out.end()};
  }
  void remove(const std::string& e) {
    for (const auto& [el, tag] : adds)
      if (el == e) removed.insert(tag);
  }
  void merge(const ReferenceSet& o) {
    adds.insert(o.adds.begin(), o.adds.end());
    removed.insert(o.removed.begin(), o.removed.end());
  }
};

std::vector<std::string> elements_of(const std::string& v) {
  std::vector<std::string> out;
  for (std::string_view e : locality::orset_elements(v)) out.emplace_back(e);
  return out;
}

std::vector<std::string> simulate_orsets(Seeded& s) {
  static const char* const kAlphabet[] = {"a", "b", "c", "d", "", "x y", "NULL", "\xc3\xa9"};
  const int regions = 2 + s.below(4);
  const int alphabet = 2 + s.below(7);
  std::vector<std::string> state(static_cast<std::size_t>(regions), empty(CrdtKind::kOrSet));
  std::vector<ReferenceSet> ref(static_cast<std::size_t>(regions));
  std::vector<std::string> pool{empty(CrdtKind::kOrSet)};
  int next_tag = 0;
  for (int step = 0; step < kSteps; ++step) {
    std::size_t i = static_cast<std::size_t>(s.below(regions));
    std::string e = kAlphabet[s.below(alphabet)];
    int op = s.below(100);
    if (op < 35) {
      state[i] = set_add(state[i], static_cast<RegionId>(i + 1), e);
      ref[i].adds.insert({e, next_tag++});
    } else if (op < 55) {
      state[i] = set_remove(state[i], e);
      ref[i].remove(e);
    } else if (op < 60) {
      // DELETE of the row: every add it observed is removed.
      state[i] = reset(CrdtKind::kOrSet, state[i]);
      for (const auto& [el, tag] : ref[i].adds) ref[i].removed.insert(tag);
    } else if (op < 63) {
      // INSERT over the tombstone with '{e, f}': adds of e and f.
      std::string f = kAlphabet[s.below(alphabet)];
      std::string value = set_add(set_add(empty(CrdtKind::kOrSet), 3, e), 3, f);
      state[i] = continue_from(CrdtKind::kOrSet, state[i], value, static_cast<RegionId>(i + 1));
      ref[i].adds.insert({e, next_tag++});
      ref[i].adds.insert({f, next_tag++});
    } else {
      std::size_t j = static_cast<std::size_t>(s.below(regions));
      state[i] = merge(CrdtKind::kOrSet, state[i], state[j]);
      ref[i].merge(ref[j]);
    }
    EXPECT_EQ(elements_of(state[i]), ref[i].elements())
        << "region " << i + 1 << " after step " << step << ": "
        << format(CrdtKind::kOrSet, state[i]);
    pool.push_back(state[i]);
    if (::testing::Test::HasFailure()) return pool;
  }
  // Convergence: after everyone pulls everyone, all states are equal and
  // hold what the reference holds after the union of everything.
  ReferenceSet all;
  for (const ReferenceSet& r : ref) all.merge(r);
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < state.size(); ++i)
      for (std::size_t j = 0; j < state.size(); ++j)
        state[i] = merge(CrdtKind::kOrSet, state[i], state[j]);
  for (const std::string& v : state) {
    EXPECT_EQ(v, state[0]);
    EXPECT_EQ(elements_of(v), all.elements());
  }
  return pool;
}

// Any canonical orset: a random seen clock, elements with random tags
// within it (also combinations no execution produces).
std::string random_orset(Seeded& s) {
  std::map<RegionId, std::uint64_t> seen;
  int n = s.below(5);
  for (int k = 0; k < n; ++k)
    seen[static_cast<RegionId>(1 + s.below(6))] =
        1 + static_cast<std::uint64_t>(s.below(s.chance(10) ? 1000000 : 6));
  std::string text = "{|";
  bool first = true;
  for (const auto& [r, v] : seen) {
    text += (first ? "" : ",") + std::to_string(r) + ":" + std::to_string(v);
    first = false;
  }
  text += "|";
  first = true;
  if (!seen.empty()) {
    std::set<std::string> used;
    int elements = s.below(5);
    for (int k = 0; k < elements; ++k) {
      std::string e(1, static_cast<char>('a' + s.below(6)));
      if (!used.insert(e).second) continue;
      std::set<std::pair<RegionId, std::uint64_t>> tags;
      int ntags = 1 + s.below(3);
      for (int t = 0; t < ntags; ++t) {
        auto it = seen.begin();
        std::advance(it, s.below(static_cast<int>(seen.size())));
        tags.insert({it->first, 1 + static_cast<std::uint64_t>(s.rng() % it->second)});
      }
      text += (first ? "" : ",") + e;
      first = false;
      for (const auto& [r, t] : tags) text += "@" + std::to_string(r) + ":" + std::to_string(t);
    }
  }
  return parse(CrdtKind::kOrSet, text + "}", 0, locality::RegionNames());
}

TEST(OrSetProperties, MergeIsCommutativeAssociativeIdempotentAndMatchesTheTextbookOrSet) {
  std::uint64_t base = base_seed(3000);
  int laws = 0, states = 0;
  for (int run = 0; run < kRuns; ++run) {
    std::uint64_t seed = base + static_cast<std::uint64_t>(run);
    Seeded s(seed);
    SCOPED_TRACE(s.trace);
    std::vector<std::string> pool = simulate_orsets(s);
    if (HasFailure()) return;
    for (int k = 0; k < 20; ++k) pool.push_back(random_orset(s));
    states += static_cast<int>(pool.size());
    for (const std::string& v : pool) check_round_trips(CrdtKind::kOrSet, v);
    for (int t = 0; t < kTriples; ++t) {
      auto abc = sample(s, pool, 3);
      laws += check_laws(CrdtKind::kOrSet, abc[0], abc[1], abc[2]);
    }
    if (HasFailure()) return;
  }
  std::printf("  locality.orset: %d generated states, %d law checks (seeds %llu..%llu)\n", states,
              laws, static_cast<unsigned long long>(base),
              static_cast<unsigned long long>(base + kRuns - 1));
}

// ---- decoding arbitrary bytes ----

// Random bytes and random mutations of valid values: decoding either
// refuses with 22P03 or accepts a canonical value (merging it with the
// empty state reproduces it byte for byte).  Run under ASan/UBSan too.
TEST(CrdtDecoding, ArbitraryBytesAreRefusedOrCanonical) {
  std::uint64_t base = base_seed(4000);
  Seeded s(base);
  SCOPED_TRACE(s.trace);
  int accepted = 0, refused = 0;
  for (CrdtKind kind : {CrdtKind::kGCounter, CrdtKind::kPnCounter, CrdtKind::kOrSet}) {
    std::vector<std::string> seeds;
    for (int k = 0; k < 30; ++k)
      seeds.push_back(kind == CrdtKind::kOrSet ? random_orset(s) : random_counter(kind, s));
    for (int k = 0; k < 4000; ++k) {
      std::string v;
      if (s.chance(30)) {
        int n = s.below(24);
        v.push_back(static_cast<char>(locality::crdt::header_byte(kind)));
        for (int b = 0; b < n; ++b) v.push_back(static_cast<char>(s.below(256)));
      } else {
        v = seeds[static_cast<std::size_t>(s.below(static_cast<int>(seeds.size())))];
        int edits = 1 + s.below(3);
        for (int e = 0; e < edits; ++e) {
          int what = s.below(3);
          std::size_t at =
              v.empty() ? 0 : static_cast<std::size_t>(s.below(static_cast<int>(v.size())));
          if (what == 0 && !v.empty())
            v[at] = static_cast<char>(s.below(256));
          else if (what == 1)
            v.insert(v.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(s.below(256)));
          else if (!v.empty())
            v.erase(at, 1);
        }
      }
      std::string state = sqlstate_of([&] { locality::crdt_validate(kind, v); });
      if (state.empty()) {
        ++accepted;
        EXPECT_EQ(merge(kind, v, empty(kind)), v) << hex(v);
        EXPECT_EQ(parse(kind, format(kind, v, locality::RegionNames()), 0, locality::RegionNames()),
                  v);
      } else {
        ++refused;
        EXPECT_EQ(state, "22P03") << hex(v);
        EXPECT_EQ(sqlstate_of([&] { merge(kind, empty(kind), v); }), "22P03") << hex(v);
      }
      if (HasFailure()) return;
    }
  }
  std::printf("  decoding: %d mutated values accepted (canonical), %d refused\n", accepted,
              refused);
}

}  // namespace
