// crdt_orset_test.cpp -- locality.orset (crdt.hpp): add-wins
// observed-remove semantics, no tombstone growth, the binary layout and
// its checks, the full and plain text forms, the C API.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crdt_test_util.hpp"
#include "locality/crdt.hpp"
#include "locality_core.h"

namespace {

using namespace crdt_test;
using locality::orset_contains;
using locality::orset_elements;

constexpr CrdtKind S = CrdtKind::kOrSet;

std::vector<std::string> elements(const std::string& v) {
  std::vector<std::string> out;
  for (std::string_view e : orset_elements(v)) out.emplace_back(e);
  return out;
}

using Strings = std::vector<std::string>;

TEST(OrSet, EmptyHasNoElements) {
  std::string e = empty(S);
  EXPECT_EQ(hex(e), "1300");
  EXPECT_TRUE(elements(e).empty());
  EXPECT_EQ(format(S, e), "{}");
}

TEST(OrSet, AddContainsRemove) {
  std::string s = set_add(set_add(empty(S), 1, "b"), 2, "a");
  EXPECT_EQ(elements(s), (Strings{"a", "b"}));
  EXPECT_TRUE(orset_contains(s, "a"));
  EXPECT_FALSE(orset_contains(s, "c"));
  s = set_remove(s, "b");
  EXPECT_EQ(elements(s), (Strings{"a"}));
  EXPECT_EQ(format(S, s), "{|us-east1:1,eu-west1:1|a@eu-west1:1}");
}

TEST(OrSet, RemovingAnAbsentElementChangesNothing) {
  std::string s = set_add(empty(S), 1, "a");
  EXPECT_EQ(set_remove(s, "zzz"), s);
}

TEST(OrSet, ConcurrentAddWinsOverRemove) {
  std::string base = set_add(empty(S), 1, "x");
  std::string removed = set_remove(base, "x");  // us-east1 removes x
  std::string readded = set_add(base, 2, "x");  // eu-west1 adds x concurrently
  EXPECT_EQ(elements(merge(S, removed, readded)), (Strings{"x"}));
  EXPECT_EQ(elements(merge(S, readded, removed)), (Strings{"x"}));
}

TEST(OrSet, RemoveCancelsOnlyTheAddsItObserved) {
  std::string base = set_add(empty(S), 1, "x");
  std::string other = set_add(empty(S), 2, "x");  // an add us-east1 never saw
  std::string removed = set_remove(base, "x");
  std::string m = merge(S, removed, other);
  EXPECT_EQ(elements(m), (Strings{"x"}));
  EXPECT_EQ(format(S, m), "{|us-east1:1,eu-west1:1|x@eu-west1:1}");
}

TEST(OrSet, ObservedRemoveWinsOverTheAddItSaw) {
  std::string a = set_add(empty(S), 1, "x");
  std::string b = merge(S, empty(S), a);  // eu-west1 receives the add
  b = set_remove(b, "x");                 // ... and removes it
  EXPECT_TRUE(elements(merge(S, a, b)).empty());
  EXPECT_TRUE(elements(merge(S, b, a)).empty());
}

TEST(OrSet, ConcurrentAddsOfTheSameElementKeepBothTags) {
  std::string a = set_add(empty(S), 1, "x");
  std::string b = set_add(empty(S), 2, "x");
  std::string m = merge(S, a, b);
  EXPECT_EQ(format(S, m), "{|us-east1:1,eu-west1:1|x@us-east1:1@eu-west1:1}");
  // Removing after seeing both cancels both.
  EXPECT_TRUE(elements(merge(S, set_remove(m, "x"), a)).empty());
  // Re-adding replaces both tags by one fresh tag.
  EXPECT_EQ(format(S, set_add(m, 3, "x")), "{|us-east1:1,eu-west1:1,ap-east1:1|x@ap-east1:1}");
}

TEST(OrSet, RemovesLeaveNoTombstones) {
  // 1000 adds and removes of distinct elements: the value stays tiny.
  std::string s = empty(S);
  for (int i = 0; i < 1000; ++i) {
    s = set_add(s, 1 + i % 3, "element-" + std::to_string(i));
    s = set_remove(s, "element-" + std::to_string(i));
  }
  EXPECT_TRUE(elements(s).empty());
  EXPECT_LE(s.size(), 1u + 1 + 3 * 3);  // header, count, three seen entries
  EXPECT_EQ(format(S, s), "{|us-east1:334,eu-west1:333,ap-east1:333|}");
}

TEST(OrSet, ElementsAreInByteOrder) {
  std::string s = empty(S);
  for (const char* e : {"b", "", "a", "\xc3\xa9", "ab", "B"}) s = set_add(s, 1, e);
  EXPECT_EQ(elements(s), (Strings{"", "B", "a", "ab", "b", "\xc3\xa9"}));
}

TEST(OrSet, ElementsCannotContainNul) {
  EXPECT_EQ(sqlstate_of([] { set_add(empty(S), 1, std::string_view("a\0b", 3)); }), "22021");
}

TEST(OrSet, AddNeedsARegion) {
  EXPECT_EQ(sqlstate_of([] { set_add(empty(S), 0, "a"); }), "55000");
}

TEST(OrSet, BinaryLayout) {
  std::string s = set_add(set_add(empty(S), 2, "hi"), 1, "a");
  // header, 2 seen entries (1:1, 2:1), then "a" [1:1] and "hi" [2:1]
  EXPECT_EQ(hex(s),
            "13"
            "02"
            "0101"
            "0201"
            "0161"
            "01"
            "0101"
            "026869"
            "01"
            "0201");
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

void expect_invalid(const std::string& v, const char* why) {
  SCOPED_TRACE(why);
  EXPECT_EQ(sqlstate_of([&] { locality::crdt_validate(S, v); }), "22P03") << hex(v);
  EXPECT_EQ(sqlstate_of([&] { merge(S, v, empty(S)); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { set_add(v, 1, "q"); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { set_remove(v, "q"); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { orset_contains(v, "q"); }), "22P03");
  EXPECT_EQ(sqlstate_of([&] { format(S, v); }), "22P03");
}

TEST(OrSet, DecodingRefusesMalformedValues) {
  expect_invalid("", "empty");
  expect_invalid(bytes({0x13}), "no seen count");
  expect_invalid(bytes({0x11, 0x00}), "gcounter header");
  expect_invalid(bytes({0x13, 0x01}), "seen count beyond the value");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x00}), "zero seen");
  expect_invalid(bytes({0x13, 0x02, 0x02, 0x01, 0x01, 0x01}), "seen out of order");
  expect_invalid(bytes({0x13, 0x01, 0x00, 0x01}), "seen region 0");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x00}), "element without tags");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01, 0x02}),
                 "tag beyond the seen clock");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x02, 0x01}),
                 "tag of an unseen region");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01, 0x00}), "zero tag");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x02, 0x01, 0x61, 0x02, 0x01, 0x02, 0x01, 0x01}),
                 "tags out of order");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x02, 0x01, 0x61, 0x02, 0x01, 0x01, 0x01, 0x01}),
                 "tag twice");
  expect_invalid(
      bytes({0x13, 0x01, 0x01, 0x02, 0x01, 0x62, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01, 0x02}),
      "elements out of order");
  expect_invalid(
      bytes({0x13, 0x01, 0x01, 0x02, 0x01, 0x61, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01, 0x02}),
      "element twice");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x05, 0x61, 0x01, 0x01, 0x01}),
                 "truncated element");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01}), "NUL element");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x01, 0x01, 0x01, 0x07}),
                 "trailing byte");
  expect_invalid(bytes({0x13, 0x01, 0x01, 0x01, 0x01, 0x61, 0x05, 0x01, 0x01}), "tag count");
}

// ---- text ----

TEST(OrSetText, PlainArrayLiteralIsTheAddsOfItsElementsInOrder) {
  std::string s = parse(S, "{b,a,b}", 2);
  EXPECT_EQ(elements(s), (Strings{"a", "b"}));
  EXPECT_EQ(format(S, s), "{|eu-west1:3|a@eu-west1:2,b@eu-west1:3}");
  EXPECT_EQ(s, set_add(set_add(set_add(empty(S), 2, "b"), 2, "a"), 2, "b"));
}

TEST(OrSetText, PlainFormFollowsArrayLiteralRules) {
  EXPECT_EQ(elements(parse(S, " {  a b , \"c,d\" ,\"\",e\\,f, x@y.com , a|b } ")),
            (Strings{"", "a b", "a|b", "c,d", "e,f", "x@y.com"}));
  EXPECT_EQ(elements(parse(S, "{\"NULL\",nulls,\"with \\\"quotes\\\" \\\\\"}")),
            (Strings{"NULL", "nulls", "with \"quotes\" \\"}));
  EXPECT_EQ(elements(parse(S, "{a\\ }")), (Strings{"a "}));  // an escaped space stays
  EXPECT_EQ(parse(S, "{}", 0), empty(S));
  EXPECT_EQ(parse(S, " { } ", 0), empty(S));
}

TEST(OrSetText, PlainFormErrors) {
  EXPECT_EQ(sqlstate_of([] { parse(S, "{NULL}"); }), "22004");
  EXPECT_EQ(sqlstate_of([] { parse(S, "{a, null}"); }), "22004");
  EXPECT_EQ(sqlstate_of([] { parse(S, "{a}", 0); }), "55000");
  for (const char* bad : {"", "a", "{", "{a", "{a,}", "{,a}", "{{a}}", "{a}b", "{\"a}", "{a\"b}",
                          "{a\\", "[1:1]={a}", "{\"a\" b}"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sqlstate_of([&] { parse(S, bad); }), "22P02");
  }
}

TEST(OrSetText, FullFormRoundTrips) {
  std::string a = set_add(set_add(empty(S), 1, "b c"), 2, "a");
  std::string b = set_add(set_add(empty(S), 3, "b c"), 3, "gone");
  b = set_remove(b, "gone");
  std::string m = merge(S, a, set_add(b, 3, "NULL"));
  std::string text = format(S, m);
  EXPECT_EQ(text,
            "{|us-east1:1,eu-west1:1,ap-east1:3|\"NULL\"@ap-east1:3,a@eu-west1:1,"
            "\"b c\"@us-east1:1@ap-east1:1}");
  EXPECT_EQ(parse(S, text, 0), m);
}

TEST(OrSetText, FullFormQuotesWhatNeedsIt) {
  std::string s = empty(S);
  for (const char* e : {"", "a,b", "a@b", "{x}", "q\"q", "back\\slash", "|", " lead", "tab\t",
                        "null", "plain", "colon:ok", "\xc3\xa9t\xc3\xa9"})
    s = set_add(s, 1, e);
  std::string text = format(S, s);
  EXPECT_EQ(parse(S, text, 0), s) << text;
  EXPECT_NE(text.find("\"q\\\"q\""), std::string::npos) << text;
  EXPECT_NE(text.find(",plain@"), std::string::npos) << text;
  EXPECT_NE(text.find(",colon:ok@"), std::string::npos) << text;
  EXPECT_NE(text.find("\"null\"@"), std::string::npos) << text;
}

TEST(OrSetText, FullFormAcceptsIdsSpacesAndAnyOrder) {
  std::string s = parse(S, " { | 2:1 , us-east1 : 3 | z @ 1:3 , \"y\" @2:1 @1:1 } ");
  EXPECT_EQ(format(S, s), "{|us-east1:3,eu-west1:1|y@us-east1:1@eu-west1:1,z@us-east1:3}");
  EXPECT_EQ(parse(S, "{||}", 0), empty(S));
  EXPECT_EQ(elements(parse(S, "{|1:1||a@1:1}", 0)), (Strings{"|a"}));
  EXPECT_EQ(format(S, parse(S, "{|1:4|}", 0)), "{|us-east1:4|}");
}

TEST(OrSetText, FullFormErrors) {
  EXPECT_EQ(sqlstate_of([] { parse(S, "{|mars:1|}"); }), "42704");
  EXPECT_EQ(sqlstate_of([] { parse(S, "{|1:18446744073709551616|}"); }), "22003");
  EXPECT_EQ(sqlstate_of([] { parse(S, "{|1:1|NULL@1:1}"); }), "22004");
  for (const char* bad :
       {"{|", "{|1:1", "{|1:1|", "{|1:0|}", "{|1:1,1:2|}", "{|1:1|a}", "{|1:1|a@}", "{|1:1|a@1}",
        "{|1:1|a@1:2}", "{|1:1|a@2:1}", "{|1:1|a@1:0}", "{|1:2|a@1:1@1:1}", "{|1:2|a@1:1,a@1:2}",
        "{|1:1|a@1:1,}", "{|1:1|a@1:1}x", "{|1:1|a@1:1 b@1:1}", "{1:1|a@1:1}x"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(sqlstate_of([&] { parse(S, bad); }), "22P02");
  }
}

// ---- C API ----

TEST(OrSetApi, AddRemoveContainsElements) {
  LocalityStatus status;
  char empty_buf[LOCALITY_CRDT_EMPTY_BOUND];
  size_t len = 0;
  ASSERT_EQ(locality_crdt_empty(LOCALITY_CRDT_ORSET, empty_buf, sizeof empty_buf, &len, &status),
            1);
  std::string added(LOCALITY_ORSET_ADD_BOUND(len, 5), '\0');
  size_t addlen = 0;
  ASSERT_EQ(locality_orset_add(empty_buf, len, 3, "hello", 5, added.data(), added.size(), &addlen,
                               &status),
            1)
      << status.message;
  added.resize(addlen);
  int found = 0;
  ASSERT_EQ(locality_orset_contains(added.data(), added.size(), "hello", 5, &found, &status), 1);
  EXPECT_EQ(found, 1);
  ASSERT_EQ(locality_orset_contains(added.data(), added.size(), "hell", 4, &found, &status), 1);
  EXPECT_EQ(found, 0);

  size_t count = 0;
  ASSERT_EQ(locality_orset_elements(added.data(), added.size(), nullptr, 0, &count, &status), 1);
  ASSERT_EQ(count, 1u);
  LocalityCrdtElement el[1];
  ASSERT_EQ(locality_orset_elements(added.data(), added.size(), el, 1, &count, &status), 1);
  EXPECT_EQ(std::string(el[0].data, el[0].len), "hello");
  EXPECT_EQ(el[0].data, added.data() + added.find("hello"));  // zero copy

  std::string removed(LOCALITY_ORSET_REMOVE_BOUND(added.size()), '\0');
  size_t removedlen = 0;
  ASSERT_EQ(locality_orset_remove(added.data(), added.size(), "hello", 5, removed.data(),
                                  removed.size(), &removedlen, &status),
            1);
  removed.resize(removedlen);
  ASSERT_EQ(locality_orset_elements(removed.data(), removed.size(), nullptr, 0, &count, &status),
            1);
  EXPECT_EQ(count, 0u);
  ASSERT_EQ(locality_orset_add(empty_buf, len, 3, nullptr, 0, added.data(), added.size(), &addlen,
                               &status),
            1);  // the empty string
}

TEST(OrSetApi, ElementArrayTooSmall) {
  std::string s = set_add(set_add(empty(S), 1, "a"), 1, "b");
  LocalityStatus status;
  LocalityCrdtElement el[1];
  size_t count = 0;
  EXPECT_EQ(locality_orset_elements(s.data(), s.size(), el, 1, &count, &status), 0);
  EXPECT_STREQ(status.sqlstate, "54000");
  EXPECT_EQ(count, 2u);
}

TEST(OrSetApi, AddBoundAlwaysSuffices) {
  std::string s = empty(S);
  for (int i = 0; i < 300; ++i) {
    std::string e(static_cast<size_t>(i % 200), static_cast<char>('a' + i % 26));
    locality::RegionId r = static_cast<locality::RegionId>(1 + (i * 7919) % 1000);
    std::string next = set_add(s, r, e);
    EXPECT_LE(next.size(), static_cast<size_t>(LOCALITY_ORSET_ADD_BOUND(s.size(), e.size())));
    EXPECT_LE(set_remove(next, e).size(),
              static_cast<size_t>(LOCALITY_ORSET_REMOVE_BOUND(next.size())));
    s = next;
  }
}

// ---- deletes (docs/conflicts.md section 5) ----

// eu-west1 deletes the row, having seen {a, b}; us-east1 concurrently adds
// c.  Both arrival orders hold {c}: the delete removed the adds it observed.
TEST(OrSetDelete, AnAddConcurrentWithADeleteSurvivesInBothArrivalOrders) {
  std::string before = set_add(set_add(empty(S), 1, "a"), 2, "b");
  std::string tomb = reset(S, before);
  EXPECT_TRUE(elements(tomb).empty());
  EXPECT_EQ(format(S, tomb), "{|us-east1:1,eu-west1:1|}");
  EXPECT_EQ(reset(S, tomb), tomb);
  std::string added = set_add(before, 1, "c");
  EXPECT_EQ(merge(S, tomb, added), merge(S, added, tomb));
  EXPECT_EQ(elements(merge(S, tomb, added)), (Strings{"c"}));
  // A re-add of a by us-east1, concurrent with the delete, survives too.
  EXPECT_EQ(elements(merge(S, tomb, set_add(before, 1, "a"))), (Strings{"a"}));
}

TEST(OrSetDelete, AnInsertOverTheTombstoneAddsItsElementsWithFreshTags) {
  std::string before = set_add(set_add(empty(S), 1, "a"), 3, "b");
  std::string tomb = reset(S, before);
  // ap-east1 inserts the row again with '{a}' (parsed as its first add).
  std::string again = continue_from(S, tomb, parse(S, "{a}", 3), 3);
  EXPECT_EQ(format(S, again), "{|us-east1:1,ap-east1:2|a@ap-east1:2}");
  // Had it started afresh, the tag ap-east1:1 would read as removed by the
  // delete everywhere the tombstone is merged; continued, it survives.
  EXPECT_EQ(elements(merge(S, tomb, again)), (Strings{"a"}));
  EXPECT_TRUE(elements(merge(S, tomb, parse(S, "{a}", 3))).empty());
}

}  // namespace
