// crdt_test_util.hpp -- helpers of the CRDT and conflict unit tests: values
// as std::string, the three test regions, seeds that can be replayed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "locality/crdt.hpp"
#include "locality/status.hpp"
#include "locality_core.h"

namespace crdt_test {

using locality::ByteSink;
using locality::CrdtKind;

inline constexpr LocalityRegionName kNames[] = {{1, "us-east1"}, {2, "eu-west1"}, {3, "ap-east1"}};
inline const locality::RegionNames kRegions(kNames, 3);

// Runs a producer twice, measuring and then writing, as the shim does.
template <typename Produce>
std::string produce(Produce&& f) {
  ByteSink count;
  f(count);
  std::string out(count.size(), '\0');
  ByteSink sink(out.data(), out.size());
  f(sink);
  EXPECT_TRUE(sink.fits());
  EXPECT_EQ(sink.size(), out.size());
  return out;
}

inline std::string empty(CrdtKind kind) {
  return produce([&](ByteSink& s) { locality::crdt_empty(kind, s); });
}
inline std::string merge(CrdtKind kind, std::string_view a, std::string_view b) {
  return produce([&](ByteSink& s) { locality::crdt_merge(kind, a, b, s); });
}
inline std::string add(CrdtKind kind, std::string_view v, locality::RegionId r, std::int64_t d) {
  return produce([&](ByteSink& s) { locality::counter_add(kind, v, r, d, s); });
}
inline std::string subtract(std::string_view v, locality::RegionId r, std::int64_t n) {
  return produce([&](ByteSink& s) { locality::pncounter_subtract(v, r, n, s); });
}
inline std::string set_add(std::string_view v, locality::RegionId r, std::string_view e) {
  return produce([&](ByteSink& s) { locality::orset_add(v, r, e, s); });
}
inline std::string set_remove(std::string_view v, std::string_view e) {
  return produce([&](ByteSink& s) { locality::orset_remove(v, e, s); });
}
inline std::string reset(CrdtKind kind, std::string_view v) {
  return produce([&](ByteSink& s) { locality::crdt_reset(kind, v, s); });
}
inline std::string continue_from(CrdtKind kind, std::string_view base, std::string_view inserted,
                                 locality::RegionId r) {
  return produce([&](ByteSink& s) { locality::crdt_continue(kind, base, inserted, r, s); });
}
inline std::string parse(CrdtKind kind, std::string_view text, locality::RegionId local = 1,
                         const locality::RegionNames& names = kRegions) {
  return produce([&](ByteSink& s) { locality::crdt_parse(kind, text, local, names, s); });
}
inline std::string format(CrdtKind kind, std::string_view v,
                          const locality::RegionNames& names = kRegions) {
  return produce([&](ByteSink& s) { locality::crdt_format(kind, v, names, s); });
}

// The SQLSTATE a call throws, or "" when it does not throw.
template <typename Call>
std::string sqlstate_of(Call&& call) {
  try {
    call();
  } catch (const locality::Error& e) {
    return e.sqlstate();
  }
  return "";
}

// The error a call throws (a default Error when it does not).
template <typename Call>
locality::Error error_of(Call&& call) {
  try {
    call();
  } catch (const locality::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return locality::Error("", "");
}

// Bytes as hex, for failure messages.
inline std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Seeds of the property tests: LOCALITY_TEST_SEED replays one run.
inline std::uint64_t base_seed(std::uint64_t fallback) {
  const char* env = std::getenv("LOCALITY_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
}

}  // namespace crdt_test
