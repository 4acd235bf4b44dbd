// crdt_counter_test.cpp -- locality.gcounter and locality.pncounter
// (crdt.hpp): slots credited to the local region, per-slot max merge,
// overflow and negative increments, the binary layout, the text forms.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "crdt_test_util.hpp"
#include "locality/crdt.hpp"
#include "locality_core.h"

namespace {

using namespace crdt_test;
using locality::counter_value;
using locality::crdt_validate;

constexpr CrdtKind G = CrdtKind::kGCounter;
constexpr CrdtKind PN = CrdtKind::kPnCounter;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

TEST(GCounter, EmptyIsZeroAndOneByte) {
  std::string e = empty(G);
  EXPECT_EQ(hex(e), "11");
  EXPECT_EQ(counter_value(G, e), 0);
  EXPECT_EQ(format(G, e), "{}");
}

TEST(GCounter, IncrementsAreCreditedToTheirRegionsSlot) {
  std::string c = add(G, empty(G), 2, 5);
  c = add(G, c, 1, 3);
  c = add(G, c, 2, 4);
  EXPECT_EQ(counter_value(G, c), 12);
  EXPECT_EQ(format(G, c), "{us-east1:3,eu-west1:9}");
  // header, then (region, value) varints in region order
  EXPECT_EQ(hex(c),
            "11"
            "0103"
            "0209");
}

TEST(GCounter, ZeroIncrementLeavesNoSlot) { EXPECT_EQ(add(G, empty(G), 3, 0), empty(G)); }

TEST(GCounter, NegativeIncrementIs22023) {
  locality::Error e = error_of([] { add(G, empty(G), 1, -1); });
  EXPECT_EQ(e.sqlstate(), "22023");
  EXPECT_STREQ(e.what(), "locality.gcounter cannot be decremented");
  EXPECT_NE(e.hint().find("pncounter"), std::string::npos);
}

TEST(GCounter, OverflowOfTheSlotOrTheValueIs22003) {
  std::string c = add(G, empty(G), 1, kMax);
  EXPECT_EQ(counter_value(G, c), kMax);
  EXPECT_EQ(sqlstate_of([&] { add(G, c, 1, 1); }), "22003");
  // Another region's slot is fine on its own, but the value would overflow.
  EXPECT_EQ(sqlstate_of([&] { add(G, c, 2, 1); }), "22003");
}

TEST(GCounter, ConcurrentIncrementsCanOverflowTheMergedValueOnly) {
  std::string a = add(G, empty(G), 1, kMax);
  std::string b = add(G, empty(G), 2, 1);
  std::string m = merge(G, a, b);  // merge itself never fails
  EXPECT_EQ(sqlstate_of([&] { counter_value(G, m); }), "22003");
  EXPECT_EQ(format(G, m), "{us-east1:9223372036854775807,eu-west1:1}");
}

TEST(GCounter, MergeTakesTheMaxOfEachSlot) {
  std::string base = add(G, add(G, empty(G), 1, 10), 2, 10);
  std::string a = add(G, base, 1, 5);  // us: 15, eu: 10
  std::string b = add(G, base, 2, 7);  // us: 10, eu: 17
  b = add(G, b, 3, 1);                 // ap: 1
  std::string m = merge(G, a, b);
  EXPECT_EQ(format(G, m), "{us-east1:15,eu-west1:17,ap-east1:1}");
  EXPECT_EQ(counter_value(G, m), 33);  // 20 + 5 + 7 + 1: every increment once
  EXPECT_EQ(merge(G, m, a), m);
}

TEST(GCounter, ThreeRegionsStayWellUnder64Bytes) {
  std::string c = empty(G);
  for (locality::RegionId r = 1; r <= 3; ++r) c = add(G, c, r, 1000000);
  EXPECT_EQ(c.size(), 13u);
  std::string big = empty(G);
  for (locality::RegionId r = 1; r <= 3; ++r) big = add(G, big, r, kMax / 3);
  EXPECT_LE(big.size(), 31u);
}

TEST(PnCounter, ValueIsIncrementsMinusDecrements) {
  std::string c = add(PN, empty(PN), 1, 10);
  c = add(PN, c, 2, -4);
  c = subtract(c, 1, 3);
  c = subtract(c, 3, -2);  // c - (-2) adds
  EXPECT_EQ(counter_value(PN, c), 10 - 4 - 3 + 2);
  EXPECT_EQ(format(PN, c), "{us-east1:10-3,eu-west1:0-4,ap-east1:2}");
  EXPECT_EQ(hex(c),
            "12"
            "010a03"
            "020004"
            "030200");
}

TEST(PnCounter, ThreeRegionsStayWellUnder64Bytes) {
  std::string c = empty(PN);
  for (locality::RegionId r = 1; r <= 3; ++r) c = subtract(add(PN, c, r, 500000), r, 1000);
  EXPECT_EQ(c.size(), 1u + 3 * (1 + 3 + 2));
  std::string big = empty(PN);
  for (locality::RegionId r = 1; r <= 3; ++r) big = subtract(add(PN, big, r, kMax), r, kMax);
  EXPECT_EQ(big.size(), 58u);  // the worst case at full bigint slots
}

TEST(PnCounter, MergeTakesTheMaxOfEachHalfOfEachSlot) {
  std::string base = add(PN, empty(PN), 1, 100);
  std::string a = subtract(base, 1, 30);  // us: +100 -30
  std::string b = add(PN, base, 1, 5);    // us: +105 -0
  std::string m = merge(PN, a, b);
  EXPECT_EQ(format(PN, m), "{us-east1:105-30}");
  EXPECT_EQ(counter_value(PN, m), 75);
}

TEST(PnCounter, ExtremesOfTheBigintRange) {
  std::string c = add(PN, empty(PN), 1, kMax);
  EXPECT_EQ(counter_value(PN, c), kMax);
  EXPECT_EQ(sqlstate_of([&] { add(PN, c, 2, 1); }), "22003");
  std::string low = add(PN, empty(PN), 1, -kMax);
  EXPECT_EQ(counter_value(PN, low), -kMax);
  std::string lowest = add(PN, low, 2, -1);
  EXPECT_EQ(counter_value(PN, lowest), kMin);
  EXPECT_EQ(sqlstate_of([&] { add(PN, lowest, 3, -1); }), "22003");
  // A slot holds at most INT64_MAX, so a single INT64_MIN step does not fit.
  EXPECT_EQ(sqlstate_of([&] { add(PN, empty(PN), 1, kMin); }), "22003");
  EXPECT_EQ(sqlstate_of([&] { subtract(empty(PN), 1, kMin); }), "22003");
  // Up and down may both be large as long as the value fits.
  std::string wide = subtract(c, 2, kMax);
  EXPECT_EQ(counter_value(PN, wide), 0);
  EXPECT_EQ(sqlstate_of([&] { add(PN, wide, 3, kMax); }), "");
}

TEST(PnCounter, AFailedAddLeavesTheInputAlone) {
  std::string c = add(PN, empty(PN), 1, kMax);
  std::string copy = c;
  EXPECT_EQ(sqlstate_of([&] { add(PN, c, 1, 1); }), "22003");
  EXPECT_EQ(c, copy);
}

TEST(Counter, RegionZeroCannotBeCredited) {
  EXPECT_EQ(sqlstate_of([] { add(G, empty(G), 0, 1); }), "55000");
  EXPECT_EQ(sqlstate_of([] { add(PN, empty(PN), 0, -1); }), "55000");
}

TEST(Counter, HighRegionIdsUseLongerVarints) {
  std::string c = add(G, empty(G), 65535, 1);
  EXPECT_EQ(hex(c),
            "11"
            "ffff03"
            "01");
  EXPECT_EQ(format(G, c), "{65535:1}");
  EXPECT_EQ(parse(G, "{65535:1}"), c);
}

// ---- decoding refuses every non-canonical or malformed value ----

void expect_invalid(CrdtKind kind, const std::string& bytes, const char* why) {
  SCOPED_TRACE(why);
  locality::Error e = error_of([&] { crdt_validate(kind, bytes); });
  EXPECT_EQ(e.sqlstate(), "22P03") << hex(bytes);
  EXPECT_EQ(sqlstate_of([&] { counter_value(kind, bytes); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { merge(kind, bytes, empty(kind)); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { merge(kind, empty(kind), bytes); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { format(kind, bytes); }), "22P03");
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

TEST(Counter, DecodingRefusesMalformedValues) {
  expect_invalid(G, "", "empty");
  expect_invalid(G, bytes({0x12}), "pncounter header");
  expect_invalid(G, bytes({0x21}), "format version 2");
  expect_invalid(G, bytes({0x11, 0x01}), "truncated slot");
  expect_invalid(G, bytes({0x11, 0x01, 0x80}), "truncated varint");
  expect_invalid(G, bytes({0x11, 0x00, 0x01}), "region 0");
  expect_invalid(G, bytes({0x11, 0x80, 0x80, 0x04, 0x01}), "region 65536");
  expect_invalid(G, bytes({0x11, 0x01, 0x00}), "zero slot");
  expect_invalid(G, bytes({0x11, 0x02, 0x01, 0x01, 0x01}), "regions out of order");
  expect_invalid(G, bytes({0x11, 0x01, 0x01, 0x01, 0x01}), "region twice");
  expect_invalid(G, bytes({0x11, 0x01, 0x81, 0x00}), "overlong varint");
  expect_invalid(G, bytes({0x11, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01}),
                 "slot above INT64_MAX");
  expect_invalid(G, bytes({0x11, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}),
                 "varint over 64 bits");
  expect_invalid(PN, bytes({0x12, 0x01, 0x00, 0x00}), "zero pn slot");
  expect_invalid(PN, bytes({0x12, 0x01, 0x01}), "pn slot without decrements");
  expect_invalid(PN, bytes({0x11}), "gcounter header");
}

TEST(Counter, ErrorsNameTheTypeAndTheByte) {
  locality::Error e = error_of([] { crdt_validate(G, bytes({0x11, 0x02, 0x01, 0x01, 0x01})); });
  EXPECT_STREQ(e.what(), "invalid binary value for type locality.gcounter");
  EXPECT_EQ(e.detail(), "regions out of order at byte 3.");
}

// ---- text ----

TEST(CounterText, PlainIntegerIsCreditedToTheLocalRegion) {
  EXPECT_EQ(format(G, parse(G, "5", 2)), "{eu-west1:5}");
  EXPECT_EQ(format(G, parse(G, "  +7 ", 3)), "{ap-east1:7}");
  EXPECT_EQ(parse(G, "0", 2), empty(G));
  EXPECT_EQ(format(PN, parse(PN, "-3", 1)), "{us-east1:0-3}");
  EXPECT_EQ(counter_value(PN, parse(PN, "-3", 1)), -3);
  EXPECT_EQ(counter_value(PN, parse(PN, "9223372036854775807", 1)), kMax);
}

TEST(CounterText, PlainZeroNeedsNoRegion) {
  EXPECT_EQ(parse(G, "0", 0), empty(G));
  EXPECT_EQ(parse(PN, "-0", 0), empty(PN));
  EXPECT_EQ(parse(G, "{}", 0), empty(G));
  EXPECT_EQ(sqlstate_of([] { parse(G, "1", 0); }), "55000");
}

TEST(CounterText, PlainErrors) {
  EXPECT_EQ(sqlstate_of([] { parse(G, "-1"); }), "22023");
  EXPECT_EQ(sqlstate_of([] { parse(G, "9223372036854775808"); }), "22003");
  EXPECT_EQ(sqlstate_of([] { parse(PN, "-9223372036854775809"); }), "22003");
  EXPECT_EQ(sqlstate_of([] { parse(PN, "99999999999999999999999"); }), "22003");
  EXPECT_EQ(sqlstate_of([] { parse(PN, "-9223372036854775808"); }), "22003");
  for (const char* bad : {"", " ", "abc", "5x", "5 5", "--5", "+-5", "5.0", "1e3", "0x10"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sqlstate_of([&] { parse(PN, bad); }), "22P02");
  }
}

TEST(CounterText, FullFormRoundTrips) {
  std::string c = add(G, add(G, add(G, empty(G), 3, 1), 1, 5), 2, 3);
  EXPECT_EQ(format(G, c), "{us-east1:5,eu-west1:3,ap-east1:1}");
  EXPECT_EQ(parse(G, format(G, c)), c);
  std::string p = subtract(add(PN, empty(PN), 2, 8), 3, 2);
  EXPECT_EQ(format(PN, p), "{eu-west1:8,ap-east1:0-2}");
  EXPECT_EQ(parse(PN, format(PN, p)), p);
}

TEST(CounterText, FullFormAcceptsIdsAnyOrderSpacesAndZeros) {
  std::string c = parse(G, " { ap-east1 : 1 , 1:5,eu-west1:3, 7:0 } ");
  EXPECT_EQ(format(G, c), "{us-east1:5,eu-west1:3,ap-east1:1}");
  EXPECT_EQ(format(PN, parse(PN, "{2:0-0,1:4-1}")), "{us-east1:4-1}");
}

TEST(CounterText, RegionsWithoutNamesPrintAsIds) {
  std::string c = parse(G, "{1:5,9:2}");
  EXPECT_EQ(format(G, c), "{us-east1:5,9:2}");
  EXPECT_EQ(format(G, c, locality::RegionNames()), "{1:5,9:2}");
  EXPECT_EQ(parse(G, "{1:5,9:2}", 1, locality::RegionNames()), c);
}

TEST(CounterText, InvalidNamesInTheTableAreNotPrinted) {
  const LocalityRegionName odd[] = {{1, "Not A Name"}, {2, nullptr}};
  locality::RegionNames names(odd, 2);
  EXPECT_EQ(format(G, parse(G, "{1:1,2:2}"), names), "{1:1,2:2}");
}

TEST(CounterText, FullFormErrors) {
  locality::Error e = error_of([] { parse(G, "{mars:1}"); });
  EXPECT_EQ(e.sqlstate(), "42704");
  EXPECT_STREQ(e.what(), "region \"mars\" does not exist");
  EXPECT_EQ(e.hint(), "Regions: us-east1, eu-west1, ap-east1 (or ids).");
  EXPECT_EQ(sqlstate_of([] { parse(G, "{1:9223372036854775808}"); }), "22003");
  EXPECT_EQ(sqlstate_of([] { parse(PN, "{1:1-9223372036854775808}"); }), "22003");
  for (const char* bad :
       {"{", "{1}", "{1:}", "{:1}", "{1:1,}", "{1:1 2:2}", "{1:1}}", "{1:1,1:2}", "{0:1}",
        "{65536:1}", "{1:1-2}", "{1:-2}", "{US-EAST1:1}", "{1:1} x", "{,}"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sqlstate_of([&] { parse(G, bad); }), "22P02");
  }
  for (const char* bad : {"{1:1-}", "{1:1--2}", "{1:1-2-3}"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sqlstate_of([&] { parse(PN, bad); }), "22P02");
  }
}

TEST(CounterText, SyntaxErrorsQuoteTheInputAndPointAtTheProblem) {
  locality::Error e = error_of([] { parse(G, "{1:1 2:2}"); });
  EXPECT_STREQ(e.what(), "invalid input syntax for type locality.gcounter: \"{1:1 2:2}\"");
  EXPECT_EQ(e.detail(), "expected ',', '/' or '}' at character 6.");
}

// ---- the C API ----

TEST(CounterApi, SizeQueryThenWrite) {
  LocalityStatus status;
  size_t len = 0;
  ASSERT_EQ(locality_crdt_empty(LOCALITY_CRDT_PNCOUNTER, nullptr, 0, &len, &status), 1);
  ASSERT_EQ(len, 1u);
  char empty_buf[LOCALITY_CRDT_EMPTY_BOUND];
  ASSERT_EQ(
      locality_crdt_empty(LOCALITY_CRDT_PNCOUNTER, empty_buf, sizeof empty_buf, &len, &status), 1);

  char out[LOCALITY_COUNTER_ADD_BOUND(1)];
  size_t outlen = 0;
  ASSERT_EQ(locality_counter_add(LOCALITY_CRDT_PNCOUNTER, empty_buf, len, 2, -7, out, sizeof out,
                                 &outlen, &status),
            1)
      << status.message;
  int64_t value = 0;
  ASSERT_EQ(locality_counter_value(LOCALITY_CRDT_PNCOUNTER, out, outlen, &value, &status), 1);
  EXPECT_EQ(value, -7);

  char text[64];
  size_t textlen = 0;
  ASSERT_EQ(locality_crdt_format(LOCALITY_CRDT_PNCOUNTER, out, outlen, kNames, 3, nullptr, 0,
                                 &textlen, &status),
            1);
  EXPECT_EQ(textlen, std::string("{eu-west1:0-7}").size());
  ASSERT_EQ(locality_crdt_format(LOCALITY_CRDT_PNCOUNTER, out, outlen, kNames, 3, text, textlen + 1,
                                 &textlen, &status),
            1);
  EXPECT_STREQ(text, "{eu-west1:0-7}");
}

TEST(CounterApi, TooSmallABufferIs54000WithTheSizeNeeded) {
  LocalityStatus status;
  std::string c = add(G, empty(G), 1, 300);
  char text[4];
  size_t len = 0;
  ASSERT_EQ(locality_crdt_format(LOCALITY_CRDT_GCOUNTER, c.data(), c.size(), kNames, 3, text,
                                 sizeof text, &len, &status),
            0);
  EXPECT_STREQ(status.sqlstate, "54000");
  EXPECT_EQ(len, std::string("{us-east1:300}").size());  // plus 1 for the NUL
  // Exactly enough room for the text but not its NUL.
  char tight[14];
  ASSERT_EQ(locality_crdt_format(LOCALITY_CRDT_GCOUNTER, c.data(), c.size(), kNames, 3, tight,
                                 sizeof tight, &len, &status),
            0);
  EXPECT_STREQ(status.sqlstate, "54000");
}

TEST(CounterApi, AddBoundAlwaysSuffices) {
  std::string c = empty(PN);
  for (int i = 0; i < 200; ++i) {
    std::int64_t delta = (i % 2 ? 1 : -1) * (std::int64_t{1} << (i % 63));
    locality::RegionId region = static_cast<locality::RegionId>(1 + (i * 7919) % 300);
    std::string next = add(PN, c, region, delta % (kMax / 400));
    EXPECT_LE(next.size(), static_cast<size_t>(LOCALITY_COUNTER_ADD_BOUND(c.size())));
    c = next;
  }
}

TEST(CounterApi, ErrorsAndKinds) {
  LocalityStatus status;
  int64_t value = 0;
  EXPECT_EQ(locality_counter_value(LOCALITY_CRDT_ORSET, "\x13\x00", 2, &value, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_counter_value(9, "\x11", 1, &value, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_counter_value(LOCALITY_CRDT_GCOUNTER, nullptr, 3, &value, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  char out[32];
  size_t len;
  EXPECT_EQ(locality_counter_add(LOCALITY_CRDT_GCOUNTER, "\x11", 1, 1, -2, out, sizeof out, &len,
                                 &status),
            0);
  EXPECT_STREQ(status.sqlstate, "22023");
  EXPECT_EQ(locality_crdt_validate(LOCALITY_CRDT_GCOUNTER, "\x11\x01", 2, &status), 0);
  EXPECT_STREQ(status.sqlstate, "22P03");
  EXPECT_EQ(locality_crdt_parse(LOCALITY_CRDT_GCOUNTER, "{x:1}", 1, nullptr, 0, out, sizeof out,
                                &len, &status),
            0);
  EXPECT_STREQ(status.sqlstate, "42704");
  EXPECT_STREQ(status.hint, "Regions can also be given by id.");
  EXPECT_EQ(locality_crdt_parse(LOCALITY_CRDT_GCOUNTER, nullptr, 1, nullptr, 0, out, sizeof out,
                                &len, &status),
            0);
  EXPECT_STREQ(status.sqlstate, "22P02");
}

TEST(CounterApi, MergeBoundAlwaysSuffices) {
  std::string a = add(PN, add(PN, empty(PN), 1, kMax), 3, -5);
  std::string b = add(PN, add(PN, empty(PN), 2, kMax), 4, -kMax);
  std::string m = merge(PN, a, b);
  EXPECT_LE(m.size(), static_cast<size_t>(LOCALITY_CRDT_MERGE_BOUND(a.size(), b.size())));
  LocalityStatus status;
  std::string out(LOCALITY_CRDT_MERGE_BOUND(a.size(), b.size()), '\0');
  size_t len = 0;
  ASSERT_EQ(locality_crdt_merge(LOCALITY_CRDT_PNCOUNTER, a.data(), a.size(), b.data(), b.size(),
                                out.data(), out.size(), &len, &status),
            1);
  EXPECT_EQ(out.substr(0, len), m);
}

// ---- deletes: floors (docs/conflicts.md section 5) ----

// eu-west1 deletes a row whose counter it has seen at {us-east1:5,
// eu-west1:3}; us-east1 concurrently adds 2.  Whatever order the two
// states meet in, the value is 2: the delete reset the 8 it observed, the
// concurrent increment survives.
TEST(CounterDelete, AnIncrementConcurrentWithADeleteSurvivesInBothArrivalOrders) {
  for (CrdtKind kind : {G, PN}) {
    std::string before = add(kind, add(kind, empty(kind), 1, 5), 2, 3);
    std::string tomb = reset(kind, before);
    EXPECT_EQ(counter_value(kind, tomb), 0);
    std::string inc = add(kind, before, 1, 2);
    EXPECT_EQ(merge(kind, tomb, inc), merge(kind, inc, tomb));
    EXPECT_EQ(counter_value(kind, merge(kind, tomb, inc)), 2);
    EXPECT_EQ(format(kind, merge(kind, tomb, inc)), "{us-east1:7/5,eu-west1:3/3}");
    // An increment the delete observed stays reset.
    EXPECT_EQ(counter_value(kind, merge(kind, tomb, before)), 0);
  }
}

TEST(CounterDelete, AnInsertOverTheTombstoneContinuesItsState) {
  std::string before = add(PN, add(PN, empty(PN), 1, 5), 2, -3);
  std::string tomb = reset(PN, before);
  // eu-west1 inserts the row again with '10': one increment of 10.
  std::string again = continue_from(PN, tomb, parse(PN, "10", 2), 2);
  EXPECT_EQ(counter_value(PN, again), 10);
  EXPECT_EQ(format(PN, again), "{us-east1:5/5,eu-west1:10-3/0-3}");
  // us-east1's increment concurrent with the delete still counts.
  std::string inc = add(PN, before, 1, 4);
  EXPECT_EQ(counter_value(PN, merge(PN, again, inc)), 14);
  EXPECT_EQ(merge(PN, again, inc), merge(PN, inc, again));
  // A negative value and a full-form value continue by their value.
  EXPECT_EQ(counter_value(PN, continue_from(PN, tomb, parse(PN, "-4", 2), 2)), -4);
  EXPECT_EQ(counter_value(PN, continue_from(PN, tomb, parse(PN, "{us-east1:6-1}", 2), 2)), 5);
  // Over an empty tombstone state, continuing is the value credited to region.
  EXPECT_EQ(continue_from(G, empty(G), parse(G, "7", 3), 1), parse(G, "7", 1));
}

TEST(CounterDelete, FloorsAreVersionTwoOnlyWhenNotZeroAndRoundTrip) {
  std::string tomb = reset(G, add(G, add(G, empty(G), 1, 5), 2, 300));
  EXPECT_EQ(hex(tomb), "21" "01" "05" "05" "02" "ac02" "ac02");
  EXPECT_EQ(parse(G, format(G, tomb)), tomb);
  EXPECT_EQ(reset(G, empty(G)), empty(G));
  // A full form with all floors zero is version 1.
  EXPECT_EQ(parse(G, "{us-east1:5/0}"), add(G, empty(G), 1, 5));
  // Malformed: version 2 with zero floors, a floor above its slot.
  EXPECT_EQ(sqlstate_of([&] { crdt_validate(G, std::string("\x21\x01\x05\x00", 4)); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { crdt_validate(G, std::string("\x21\x01\x05\x06", 4)); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { parse(G, "{us-east1:5/6}"); }), "22P02");
  EXPECT_EQ(sqlstate_of([&] { parse(PN, "{us-east1:5-1/5-2}"); }), "22P02");
  // An orset header with version 2 is not a counter's.
  EXPECT_EQ(sqlstate_of([&] { crdt_validate(CrdtKind::kOrSet, std::string("\x23\x00", 2)); }),
            "22P03");
}

TEST(CounterDelete, ThreeRegionsWithFloorsStayUnder64Bytes) {
  std::string c = empty(PN);
  for (locality::RegionId r = 1; r <= 3; ++r) c = add(PN, add(PN, c, r, 1000000), r, -1000000);
  c = add(PN, reset(PN, c), 1, 5);
  EXPECT_LT(c.size(), 64u) << hex(c);
}

TEST(CounterDelete, AddKeepsTheFloorsAndChecksTheValue) {
  std::string tomb = reset(PN, add(PN, empty(PN), 1, kMax));
  // The slot cannot grow past INT64_MAX even though the value is 0.
  EXPECT_EQ(sqlstate_of([&] { add(PN, tomb, 1, 1); }), "22003");
  std::string c = add(PN, tomb, 2, kMax);
  EXPECT_EQ(counter_value(PN, c), kMax);
  EXPECT_EQ(format(PN, c), "{us-east1:9223372036854775807/9223372036854775807,"
                           "eu-west1:9223372036854775807}");
}

}  // namespace
