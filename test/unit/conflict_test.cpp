// conflict_test.cpp -- the apply worker's conflict decision (conflict.hpp):
// every mode over every local state, ties, causality with a lagging clock,
// per-column choices, merged columns, and generated multi-region runs in
// which every region must end with the same rows.
#include "locality/conflict.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "crdt_test_util.hpp"
#include "locality/crdt.hpp"
#include "locality/hlc.hpp"
#include "locality_core.h"

namespace {

using crdt_test::base_seed;
using crdt_test::error_of;
using locality::Hlc;
using locality::hlc_make;

constexpr std::uint64_t kT = 1718000000000;

LocalityHlcStamp at(std::uint64_t ms, locality::RegionId region, std::uint16_t logical = 0) {
  return LocalityHlcStamp{hlc_make(kT + ms, logical), region};
}

constexpr int kLww = LOCALITY_CONFLICT_LAST_WRITE_WINS;
constexpr int kColumn = LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN;
constexpr int kKeepLocal = LOCALITY_CONFLICT_KEEP_LOCAL;
constexpr int kApplyRemote = LOCALITY_CONFLICT_APPLY_REMOTE;
constexpr int kError = LOCALITY_CONFLICT_ERROR;
constexpr int kWrite = LOCALITY_REMOTE_WRITE;
constexpr int kDelete = LOCALITY_REMOTE_DELETE;
constexpr int kRow = LOCALITY_LOCAL_ROW;
constexpr int kTombstone = LOCALITY_LOCAL_TOMBSTONE;
constexpr int kAbsent = LOCALITY_LOCAL_ABSENT;
constexpr int kApply = LOCALITY_RESOLUTION_APPLY_REMOTE;
constexpr int kKeep = LOCALITY_RESOLUTION_KEEP_LOCAL;
constexpr int kColumns = LOCALITY_RESOLUTION_COLUMNS;
constexpr int kStop = LOCALITY_RESOLUTION_ERROR;
constexpr std::uint8_t L = LOCALITY_CHOICE_KEEP_LOCAL;
constexpr std::uint8_t R = LOCALITY_CHOICE_APPLY_REMOTE;
constexpr std::uint8_t M = LOCALITY_CHOICE_MERGE;

struct Outcome {
  int resolution;
  std::vector<std::uint8_t> choices;
};

Outcome decide(int mode, int op, int state, LocalityHlcStamp local, LocalityHlcStamp remote,
               const std::vector<LocalityConflictColumn>& columns = {}) {
  LocalityConflict c{mode,
                     op,
                     state,
                     local,
                     remote,
                     static_cast<std::uint16_t>(columns.size()),
                     columns.empty() ? nullptr : columns.data()};
  Outcome out{0, std::vector<std::uint8_t>(columns.size(), 0)};
  LocalityStatus status;
  EXPECT_EQ(locality_conflict_resolve(&c, out.choices.empty() ? nullptr : out.choices.data(),
                                      &out.resolution, &status),
            1)
      << status.message << " " << status.detail;
  return out;
}

int resolution(int mode, int op, int state, LocalityHlcStamp local, LocalityHlcStamp remote) {
  return decide(mode, op, state, local, remote).resolution;
}

LocalityConflictColumn column(LocalityHlcStamp local, LocalityHlcStamp remote,
                              std::uint8_t flags = 0) {
  return LocalityConflictColumn{local, remote, flags};
}

// ---- the row-level table of every mode ----

TEST(Conflict, LastWriteWinsPicksTheLaterStampInEveryCase) {
  LocalityHlcStamp early = at(0, 2), late = at(10, 1);
  for (int mode : {kLww, kColumn}) {
    SCOPED_TRACE(mode);
    EXPECT_EQ(resolution(mode, kWrite, kRow, early, late), kApply);
    EXPECT_EQ(resolution(mode, kWrite, kRow, late, early), kKeep);
    EXPECT_EQ(resolution(mode, kWrite, kTombstone, early, late), kApply);  // resurrects
    EXPECT_EQ(resolution(mode, kWrite, kTombstone, late, early), kKeep);   // stays deleted
    EXPECT_EQ(resolution(mode, kWrite, kAbsent, late, early), kApply);     // nothing to keep
    EXPECT_EQ(resolution(mode, kDelete, kRow, early, late), kApply);
    EXPECT_EQ(resolution(mode, kDelete, kRow, late, early), kKeep);         // the update wins
    EXPECT_EQ(resolution(mode, kDelete, kTombstone, early, late), kApply);  // later stamp kept
    EXPECT_EQ(resolution(mode, kDelete, kTombstone, late, early), kKeep);
    EXPECT_EQ(resolution(mode, kDelete, kAbsent, late, early), kApply);  // remember it
  }
}

TEST(Conflict, KeepLocalKeepsWhateverIsLocal) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  EXPECT_EQ(resolution(kKeepLocal, kWrite, kRow, early, late), kKeep);
  EXPECT_EQ(resolution(kKeepLocal, kWrite, kTombstone, early, late), kKeep);
  EXPECT_EQ(resolution(kKeepLocal, kWrite, kAbsent, early, late), kApply);
  EXPECT_EQ(resolution(kKeepLocal, kDelete, kRow, early, late), kKeep);
  EXPECT_EQ(resolution(kKeepLocal, kDelete, kTombstone, early, late), kKeep);
  EXPECT_EQ(resolution(kKeepLocal, kDelete, kAbsent, early, late), kApply);
}

TEST(Conflict, ApplyRemoteAppliesWhateverArrives) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  for (int state : {kRow, kTombstone, kAbsent})
    for (int op : {kWrite, kDelete})
      EXPECT_EQ(resolution(kApplyRemote, op, state, late, early), kApply) << state << op;
}

TEST(Conflict, ErrorStopsWhenTheOutcomesWouldDiffer) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  std::vector<LocalityConflictColumn> differ = {column(early, late),
                                                column(early, late, LOCALITY_COLUMN_EQUAL)};
  Outcome o = decide(kError, kWrite, kRow, early, late, differ);
  EXPECT_EQ(o.resolution, kStop);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{L, L}));          // nothing to apply
  EXPECT_EQ(resolution(kError, kWrite, kRow, early, late), kStop);  // no columns: can't tell
  EXPECT_EQ(resolution(kError, kWrite, kTombstone, early, late), kStop);
  EXPECT_EQ(resolution(kError, kWrite, kAbsent, early, late), kStop);
  EXPECT_EQ(resolution(kError, kDelete, kRow, early, late), kStop);
  EXPECT_EQ(resolution(kError, kDelete, kRow, late, early), kStop);
}

int unique_resolution(int mode, LocalityHlcStamp local, LocalityHlcStamp remote) {
  int r = 0;
  LocalityStatus status;
  EXPECT_EQ(locality_unique_conflict_resolve(mode, &local, &remote, &r, &status), 1)
      << status.message;
  return r;
}

// Two rows of different keys with the same unique value: each region meets
// the other's row as the remote one; both must keep the same row.
TEST(Conflict, AUniqueViolationKeepsTheLaterRowOnBothRegions) {
  LocalityHlcStamp a = at(0, 1), b = at(0, 1, 1), c = at(0, 2, 1);  // b ties a's ms, c ties b's hlc
  for (int mode : {kLww, kColumn}) {
    SCOPED_TRACE(mode);
    for (auto [early, late] : {std::pair{a, b}, std::pair{a, c}, std::pair{b, c}}) {
      // On the region holding the early row, the late one arrives and wins;
      EXPECT_EQ(unique_resolution(mode, early, late), kApply);
      // on the region holding the late row, the early one arrives and loses.
      EXPECT_EQ(unique_resolution(mode, late, early), kKeep);
    }
  }
  EXPECT_EQ(unique_resolution(kKeepLocal, a, b), kKeep);
  EXPECT_EQ(unique_resolution(kApplyRemote, b, a), kApply);
  EXPECT_EQ(unique_resolution(kError, a, b), kStop);
  int r = 0;
  LocalityStatus status;
  EXPECT_EQ(locality_unique_conflict_resolve(99, &a, &b, &r, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
}

TEST(Conflict, ErrorLetsAgreeingVersionsThroughAsLastWriteWins) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  // Only the counter differs (merged) and the other column is equal.
  std::vector<LocalityConflictColumn> agree = {column(early, late, LOCALITY_COLUMN_EQUAL),
                                               column(early, late, LOCALITY_COLUMN_MERGE),
                                               column(early, late, LOCALITY_COLUMN_UNCHANGED)};
  Outcome o = decide(kError, kWrite, kRow, early, late, agree);
  EXPECT_EQ(o.resolution, kApply);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{R, M, L}));
  o = decide(kError, kWrite, kRow, late, early, agree);
  EXPECT_EQ(o.resolution, kKeep);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{L, M, L}));
  // A delete of what is already gone: both outcomes are "gone".
  EXPECT_EQ(resolution(kError, kDelete, kTombstone, early, late), kApply);
  EXPECT_EQ(resolution(kError, kDelete, kTombstone, late, early), kKeep);
  EXPECT_EQ(resolution(kError, kDelete, kAbsent, late, early), kApply);
}

// ---- ties and causality ----

TEST(Conflict, EqualClocksBreakByRegionIdSoBothRegionsPickTheSameWinner) {
  Hlc same = hlc_make(kT, 3);
  LocalityHlcStamp from1{same, 1}, from2{same, 2};
  // At region 1: its own write is local, region 2's arrives -> region 2 wins.
  EXPECT_EQ(resolution(kLww, kWrite, kRow, from1, from2), kApply);
  // At region 2: its own write is local, region 1's arrives -> still region 2.
  EXPECT_EQ(resolution(kLww, kWrite, kRow, from2, from1), kKeep);
  // Same for a delete racing an update, and per column.
  EXPECT_EQ(resolution(kLww, kDelete, kRow, from1, from2), kApply);
  EXPECT_EQ(resolution(kLww, kDelete, kRow, from2, from1), kKeep);
  EXPECT_EQ(decide(kColumn, kWrite, kRow, from1, from2, {column(from1, from2)}).choices[0], R);
  EXPECT_EQ(decide(kColumn, kWrite, kRow, from2, from1, {column(from2, from1)}).choices[0], L);
}

TEST(Conflict, TheSameStampIsTheSameTransactionAndAppliesInStreamOrder) {
  LocalityHlcStamp s = at(5, 3);
  EXPECT_EQ(resolution(kLww, kWrite, kRow, s, s), kApply);
  EXPECT_EQ(resolution(kLww, kDelete, kRow, s, s), kApply);
}

// Region 1 writes; region 2, whose clock is 400 ms behind, observes that
// write and overwrites it.  Every region, whatever order it receives the two
// writes in, keeps region 2's; comparing commit timestamps would keep
// region 1's everywhere.
TEST(Conflict, TheCausallyLaterWriteWinsEverywhereDespiteA400MsLaggingClock) {
  const std::uint64_t skew = 500;
  locality::HybridLogicalClock r1, r2;
  std::uint64_t commit_1 = kT;  // region 1's physical commit time
  LocalityHlcStamp w1{r1.now(commit_1), 1};
  r2.update(w1.hlc, kT + 60 - 400, skew);  // arrives after 60 ms; clock 400 ms behind
  std::uint64_t commit_2 = kT + 70 - 400;  // region 2's physical commit time
  LocalityHlcStamp w2{r2.now(commit_2), 2};
  ASSERT_LT(commit_2, commit_1);  // the commit timestamps are in the opposite order

  for (int mode : {kLww, kColumn}) {
    SCOPED_TRACE(mode);
    // Region 1 receives w2 over its row w1: apply.
    EXPECT_EQ(decide(mode, kWrite, kRow, w1, w2, {column(w1, w2)}).choices[0], R);
    // Region 2 receives nothing new (w1 was before w2 in its history);
    // region 3 receives w2 first, then w1 over it: keep w2.
    EXPECT_EQ(resolution(mode, kWrite, kAbsent, {0, 0}, w2), kApply);
    EXPECT_EQ(decide(mode, kWrite, kRow, w2, w1, {column(w2, w1)}).choices[0], L);
  }
  // Also when region 2's causally later change is a delete.
  EXPECT_EQ(resolution(kLww, kDelete, kRow, w1, w2), kApply);
  EXPECT_EQ(resolution(kLww, kWrite, kTombstone, w2, w1), kKeep);
}

// ---- per-column choices ----

TEST(Conflict, ColumnModeKeepsConcurrentUpdatesOfDifferentColumns) {
  LocalityHlcStamp base = at(0, 1), mine = at(10, 1), theirs = at(12, 2);
  // Local updated column 0 at 10, remote updated column 1 at 12.
  std::vector<LocalityConflictColumn> cols = {column(mine, base), column(base, theirs),
                                              column(base, base)};
  Outcome o = decide(kColumn, kWrite, kRow, mine, theirs, cols);
  EXPECT_EQ(o.resolution, kColumns);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{L, R, R}));
  // The same under row-level LWW: the later row takes every column.
  o = decide(kLww, kWrite, kRow, mine, theirs, cols);
  EXPECT_EQ(o.resolution, kApply);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{R, R, R}));
}

TEST(Conflict, ColumnModeDecidesTheSameColumnByItsStamp) {
  LocalityHlcStamp a = at(10, 1), b = at(12, 2);
  Outcome o = decide(kColumn, kWrite, kRow, a, b, {column(a, b), column(b, a)});
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{R, L}));
  EXPECT_EQ(o.resolution, kColumns);
  o = decide(kColumn, kWrite, kRow, a, b, {column(a, b), column(a, b)});
  EXPECT_EQ(o.resolution, kApply);
  o = decide(kColumn, kWrite, kRow, b, a, {column(b, a), column(b, a)});
  EXPECT_EQ(o.resolution, kKeep);
}

TEST(Conflict, MergedColumnsAreMergedInEveryModeWhoeverWins) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  std::vector<LocalityConflictColumn> cols = {column(early, late),
                                              column(early, late, LOCALITY_COLUMN_MERGE)};
  for (int mode : {kLww, kColumn, kKeepLocal, kApplyRemote}) {
    SCOPED_TRACE(mode);
    EXPECT_EQ(decide(mode, kWrite, kRow, early, late, cols).choices[1], M);
    EXPECT_EQ(decide(mode, kWrite, kRow, late, early, cols).choices[1], M);
    EXPECT_EQ(decide(mode, kWrite, kTombstone, late, early, cols).choices[1], M);
    EXPECT_EQ(decide(mode, kWrite, kTombstone, early, late, cols).choices[1], M);
  }
  Outcome keep = decide(kKeepLocal, kWrite, kRow, early, late, cols);
  EXPECT_EQ(keep.resolution, kKeep);
  EXPECT_EQ(keep.choices, (std::vector<std::uint8_t>{L, M}));
  // Over an absent row there is nothing to merge with: take the remote value.
  EXPECT_EQ(decide(kLww, kWrite, kAbsent, early, late, cols).choices,
            (std::vector<std::uint8_t>{R, R}));
}

TEST(Conflict, UnchangedColumnsKeepTheLocalValue) {
  LocalityHlcStamp early = at(0, 1), late = at(10, 2);
  std::vector<LocalityConflictColumn> cols = {column(early, late, LOCALITY_COLUMN_UNCHANGED),
                                              column(early, late)};
  for (int mode : {kLww, kColumn, kApplyRemote}) {
    EXPECT_EQ(decide(mode, kWrite, kRow, early, late, cols).choices,
              (std::vector<std::uint8_t>{L, R}));
  }
  EXPECT_EQ(decide(kLww, kWrite, kAbsent, early, late, cols).choices,
            (std::vector<std::uint8_t>{L, R}));
}

TEST(Conflict, ColumnModeMergesAWriteIntoATombstonesColumns) {
  LocalityHlcStamp old = at(0, 1), col_update = at(5, 3), del = at(10, 2), late = at(12, 1);
  // The tombstone kept column 0 written at 5; the remote write at 12 set
  // column 1 and carries an older column 0.
  std::vector<LocalityConflictColumn> cols = {column(col_update, old), column(old, late)};
  Outcome o = decide(kColumn, kWrite, kTombstone, del, late, cols);
  EXPECT_EQ(o.resolution, kApply);  // later than the delete: the row reappears
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{L, R}));
  // A write older than the delete leaves it deleted but still merges.
  o = decide(kColumn, kWrite, kTombstone, late, del, {column(old, del), column(late, old)});
  EXPECT_EQ(o.resolution, kKeep);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{R, L}));
  // Row-level LWW ignores the tombstone's columns.
  o = decide(kLww, kWrite, kTombstone, del, late, cols);
  EXPECT_EQ(o.choices, (std::vector<std::uint8_t>{R, R}));
}

// ---- names and the C API ----

TEST(Conflict, ModesParseAndPrint) {
  for (int mode : {kLww, kColumn, kKeepLocal, kApplyRemote, kError}) {
    const char* name = locality_conflict_mode_name(mode);
    ASSERT_NE(name, nullptr);
    int parsed = 0;
    LocalityStatus status;
    ASSERT_EQ(locality_conflict_mode_parse(name, &parsed, &status), 1);
    EXPECT_EQ(parsed, mode);
  }
  EXPECT_STREQ(locality_conflict_mode_name(kLww), "last_write_wins");
  EXPECT_EQ(locality_conflict_mode_name(0), nullptr);
  EXPECT_STREQ(locality_resolution_name(kApply), "apply_remote");
  EXPECT_STREQ(locality_resolution_name(kKeep), "keep_local");
  EXPECT_STREQ(locality_resolution_name(kColumns), "columns");
  EXPECT_STREQ(locality_resolution_name(kStop), "error");
  EXPECT_EQ(locality_resolution_name(9), nullptr);
}

TEST(Conflict, UnknownModeIs22023WithTheAcceptedModes) {
  int mode = 7;
  LocalityStatus status;
  EXPECT_EQ(locality_conflict_mode_parse("Last_Write_Wins", &mode, &status), 0);
  EXPECT_STREQ(status.sqlstate, "22023");
  EXPECT_STREQ(status.message, "invalid conflict resolution \"Last_Write_Wins\"");
  EXPECT_STREQ(status.hint,
               "Accepted modes: last_write_wins, last_write_wins_column, keep_local, "
               "apply_remote, error.");
  EXPECT_EQ(mode, 7);
  EXPECT_EQ(locality_conflict_mode_parse(nullptr, &mode, &status), 0);
  EXPECT_STREQ(status.message, "invalid conflict resolution \"\"");
}

TEST(Conflict, MalformedDescriptionsAreXX000) {
  LocalityStatus status;
  int r = 0;
  LocalityConflictColumn col{};
  std::uint8_t choice = 0;
  LocalityConflict bad_mode{0, kWrite, kRow, {}, {}, 0, nullptr};
  LocalityConflict bad_op{kLww, 3, kRow, {}, {}, 0, nullptr};
  LocalityConflict bad_state{kLww, kWrite, 0, {}, {}, 0, nullptr};
  LocalityConflict no_columns{kLww, kWrite, kRow, {}, {}, 1, nullptr};
  LocalityConflict no_choices{kLww, kWrite, kRow, {}, {}, 1, &col};
  for (const LocalityConflict* c : {&bad_mode, &bad_op, &bad_state, &no_columns}) {
    EXPECT_EQ(locality_conflict_resolve(c, &choice, &r, &status), 0);
    EXPECT_STREQ(status.sqlstate, "XX000");
  }
  EXPECT_EQ(locality_conflict_resolve(&no_choices, nullptr, &r, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_conflict_resolve(nullptr, nullptr, &r, &status), 0);
  // A delete needs no choices array even with columns.
  LocalityConflict del{kLww, kDelete, kRow, at(0, 1), at(1, 1), 1, &col};
  EXPECT_EQ(locality_conflict_resolve(&del, nullptr, &r, &status), 1);
  EXPECT_EQ(r, kApply);
}

// ---- generated runs: every region ends with the same row ----

// One key of a GLOBAL table with two plain columns and a pncounter column,
// as one region holds it.  Tombstones keep the deleted row's columns (used
// in column mode) and its counter (every mode), as conflict.hpp asks.
struct Version {
  int state = kAbsent;  // kRow, kTombstone, kAbsent
  int values[2] = {0, 0};
  LocalityHlcStamp col[2] = {{0, 0}, {0, 0}};
  LocalityHlcStamp stamp = {0, 0};  // the row's last write, or the delete
  std::string counter = crdt_test::empty(locality::CrdtKind::kPnCounter);
};

struct Message {
  int op;
  Version version;  // the sender's row after the write
  LocalityHlcStamp stamp;
};

bool same_stamp(const LocalityHlcStamp& a, const LocalityHlcStamp& b) {
  return locality::stamp_compare(a, b) == 0;
}

LocalityHlcStamp latest(const LocalityHlcStamp& a, const LocalityHlcStamp& b) {
  return locality::stamp_before(a, b) ? b : a;
}

void receive(int mode, Version& v, const Message& m) {
  std::vector<LocalityConflictColumn> cols;
  if (m.op == kWrite) {
    for (int c = 0; c < 2; ++c)
      cols.push_back(column(v.col[c], m.version.col[c],
                            v.values[c] == m.version.values[c] ? LOCALITY_COLUMN_EQUAL : 0));
    cols.push_back(column({0, 0}, {0, 0}, LOCALITY_COLUMN_MERGE));
  }
  Outcome o = decide(mode, m.op, v.state, v.stamp, m.stamp, cols);
  if (m.op == kDelete) {
    if (o.resolution != kApply) return;
    if (v.state == kAbsent) v = Version{};
    v.state = kTombstone;
    v.stamp = m.stamp;
    return;
  }
  for (int c = 0; c < 2; ++c)
    if (o.choices[static_cast<std::size_t>(c)] == R) {
      v.values[c] = m.version.values[c];
      v.col[c] = m.version.col[c];
    }
  if (o.choices[2] == M)
    v.counter = crdt_test::merge(locality::CrdtKind::kPnCounter, v.counter, m.version.counter);
  else if (o.choices[2] == R)
    v.counter = m.version.counter;
  if (v.state == kRow || o.resolution == kApply) {
    // Row mode: the stamp of the write whose tuple the row holds.  Column
    // mode: the latest write of any kind, merged-column-only ones included
    // (over a tombstone that can only be this write).
    if (mode == kColumn)
      v.stamp = v.state == kRow ? latest(v.stamp, m.stamp) : m.stamp;
    else if (o.resolution == kApply)
      v.stamp = m.stamp;
    v.state = kRow;
  }
}

struct RunResult {
  int conflicts_checked = 0;
};

void converge(int mode, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto below = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  const int n = 2 + below(3);
  std::vector<locality::HybridLogicalClock> clocks(static_cast<std::size_t>(n));
  std::vector<std::int64_t> offset;
  for (int i = 0; i < n; ++i) offset.push_back(below(801) - 400);  // clocks up to 400 ms off
  std::vector<Version> rows(static_cast<std::size_t>(n));
  // queue[from][to]: changes in flight, in commit order.
  std::vector<std::vector<std::deque<Message>>> queue(
      static_cast<std::size_t>(n), std::vector<std::deque<Message>>(static_cast<std::size_t>(n)));
  std::uint64_t now = kT;
  std::int64_t increments = 0;
  auto physical = [&](int i) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(now) +
                                      offset[static_cast<std::size_t>(i)]);
  };
  auto deliver = [&](int from, int to) {
    auto& q = queue[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
    if (q.empty()) return;
    Message m = q.front();
    q.pop_front();
    clocks[static_cast<std::size_t>(to)].update(m.stamp.hlc, physical(to), 1000);
    receive(mode, rows[static_cast<std::size_t>(to)], m);
  };
  for (int step = 0; step < 300; ++step) {
    now += static_cast<std::uint64_t>(below(20));
    int i = below(n);
    Version& v = rows[static_cast<std::size_t>(i)];
    int what = below(100);
    if (what < 45) {  // a local INSERT or UPDATE
      LocalityHlcStamp s{clocks[static_cast<std::size_t>(i)].now(physical(i)),
                         static_cast<locality::RegionId>(i + 1)};
      bool insert = v.state != kRow;
      for (int c = 0; c < 2; ++c)
        if (insert || below(2) == 0) {
          v.values[c] = below(5);
          v.col[c] = s;
        }
      std::int64_t delta = below(7) - 3;
      // An INSERT over a tombstone continues the counter the tombstone kept.
      v.counter = crdt_test::add(locality::CrdtKind::kPnCounter, v.counter,
                                 static_cast<locality::RegionId>(i + 1), delta);
      increments += delta;
      v.state = kRow;
      v.stamp = s;
      for (int k = 0; k < n; ++k)
        if (k != i)
          queue[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)].push_back(
              Message{kWrite, v, s});
    } else if (what < 55 && v.state == kRow) {  // a local DELETE
      LocalityHlcStamp s{clocks[static_cast<std::size_t>(i)].now(physical(i)),
                         static_cast<locality::RegionId>(i + 1)};
      v.state = kTombstone;
      v.stamp = s;
      for (int k = 0; k < n; ++k)
        if (k != i)
          queue[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)].push_back(
              Message{kDelete, v, s});
    } else {
      deliver(below(n), i);
    }
  }
  // Drain in random order.
  for (bool left = true; left;) {
    left = false;
    for (int k = 0; k < 4 * n * n; ++k) deliver(below(n), below(n));
    for (const auto& row : queue)
      for (const auto& q : row) left |= !q.empty();
  }
  const Version& first = rows[0];
  for (int i = 1; i < n; ++i) {
    const Version& v = rows[static_cast<std::size_t>(i)];
    ASSERT_EQ(v.state, first.state) << "region " << i + 1;
    ASSERT_TRUE(same_stamp(v.stamp, first.stamp)) << "region " << i + 1;
    ASSERT_EQ(v.counter, first.counter) << "region " << i + 1;
    if (first.state == kRow || mode == kColumn)
      for (int c = 0; c < 2; ++c) {
        ASSERT_EQ(v.values[c], first.values[c]) << "region " << i + 1 << " column " << c;
        if (mode == kColumn) {
          ASSERT_TRUE(same_stamp(v.col[c], first.col[c]));
        }
      }
  }
  if (first.state != kAbsent) {
    EXPECT_EQ(locality::counter_value(locality::CrdtKind::kPnCounter, first.counter), increments);
  }
}

TEST(ConflictConvergence, EveryRegionEndsWithTheSameRowUnderLastWriteWins) {
  std::uint64_t base = base_seed(7000);
  for (std::uint64_t seed = base; seed < base + 300; ++seed) {
    SCOPED_TRACE("replay with LOCALITY_TEST_SEED=" + std::to_string(seed));
    converge(kLww, seed);
    if (HasFailure()) return;
  }
  std::printf("  last_write_wins: 300 runs converged (seeds %llu..%llu)\n",
              static_cast<unsigned long long>(base), static_cast<unsigned long long>(base + 299));
}

TEST(ConflictConvergence, EveryRegionEndsWithTheSameRowUnderLastWriteWinsColumn) {
  std::uint64_t base = base_seed(8000);
  for (std::uint64_t seed = base; seed < base + 300; ++seed) {
    SCOPED_TRACE("replay with LOCALITY_TEST_SEED=" + std::to_string(seed));
    converge(kColumn, seed);
    if (HasFailure()) return;
  }
  std::printf("  last_write_wins_column: 300 runs converged (seeds %llu..%llu)\n",
              static_cast<unsigned long long>(base), static_cast<unsigned long long>(base + 299));
}

}  // namespace
