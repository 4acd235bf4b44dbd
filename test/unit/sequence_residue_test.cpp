// sequence_residue_test.cpp -- residue classes of managed tables' sequences:
// restart values never repeat a value already handed out, never collide
// across regions, and fail clearly when a class is exhausted.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>

#include "locality/sequence_residue.hpp"
#include "locality_core.h"

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::int64_t restart(std::int64_t last_value, bool is_called, std::int64_t floor, int region_id,
                     std::int64_t max_value = kMax) {
  std::int64_t value = 0;
  LocalityStatus status;
  EXPECT_EQ(locality_sequence_restart(last_value, is_called ? 1 : 0, floor, region_id, max_value,
                                      &value, &status),
            1)
      << status.message;
  return value;
}

LocalityStatus restart_error(std::int64_t last_value, bool is_called, std::int64_t floor,
                             int region_id, std::int64_t max_value) {
  std::int64_t value = -7;
  LocalityStatus status;
  EXPECT_EQ(locality_sequence_restart(last_value, is_called ? 1 : 0, floor, region_id, max_value,
                                      &value, &status),
            0);
  EXPECT_EQ(value, -7);
  return status;
}

TEST(SequenceResidue, FreshSequenceStartsAtItsRegionId) {
  EXPECT_EQ(restart(1, false, 1, 1), 1);
  EXPECT_EQ(restart(1, false, 1, 2), 2);
  EXPECT_EQ(restart(1, false, 1, 63), 63);
  EXPECT_EQ(restart(1, false, 1, 64), 64);
}

TEST(SequenceResidue, UsedSequenceRestartsAboveTheLastValueHandedOut) {
  // 100 was handed out: region 1 continues at 129, region 2 at 130.
  EXPECT_EQ(restart(100, true, 1, 1), 129);
  EXPECT_EQ(restart(100, true, 1, 2), 130);
  EXPECT_EQ(restart(100, true, 1, 37), 101);
  EXPECT_EQ(restart(100, true, 1, 36), 164);
  // 100 not yet handed out (after RESTART WITH 100): 100 itself may be used.
  EXPECT_EQ(restart(100, false, 1, 36), 100);
}

TEST(SequenceResidue, FloorRaisesTheRestart) {
  EXPECT_EQ(restart(1, false, 1000, 1), 1025);
  EXPECT_EQ(restart(5000, true, 1000, 1), 5057);
}

TEST(SequenceResidue, NegativeValuesUseTheSameClasses) {
  EXPECT_EQ(restart(-100, true, std::numeric_limits<std::int64_t>::min(), 1), -63);
  EXPECT_EQ(restart(-100, true, std::numeric_limits<std::int64_t>::min(), 64), -64);
}

TEST(SequenceResidue, RestartIsAlignedAndStepsStayInTheClass) {
  for (int region = 1; region <= LOCALITY_SEQUENCE_STRIDE; ++region) {
    std::int64_t value = restart(12345, true, 1, region);
    EXPECT_TRUE(locality::sequence_is_aligned(LOCALITY_SEQUENCE_STRIDE, value, region));
    EXPECT_TRUE(locality::sequence_is_aligned(LOCALITY_SEQUENCE_STRIDE,
                                              value + 10 * LOCALITY_SEQUENCE_STRIDE, region));
  }
}

TEST(SequenceResidue, RegionsNeverHandOutTheSameValue) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> last(1, 1'000'000);
  for (int round = 0; round < 200; ++round) {
    std::set<std::int64_t> seen;
    for (int region = 1; region <= LOCALITY_SEQUENCE_STRIDE; ++region) {
      std::int64_t handed_out = last(rng);
      std::int64_t value = restart(handed_out, true, 1, region);
      EXPECT_GT(value, handed_out);
      EXPECT_LE(value, handed_out + LOCALITY_SEQUENCE_STRIDE);
      for (int step = 0; step < 50; ++step)
        EXPECT_TRUE(seen.insert(value + step * LOCALITY_SEQUENCE_STRIDE).second)
            << "region " << region << " repeats " << value + step * LOCALITY_SEQUENCE_STRIDE;
    }
  }
}

TEST(SequenceResidue, AlignmentNeedsTheStrideAndTheClass) {
  EXPECT_TRUE(locality::sequence_is_aligned(64, 129, 1));
  EXPECT_FALSE(locality::sequence_is_aligned(1, 129, 1));
  EXPECT_FALSE(locality::sequence_is_aligned(64, 130, 1));
  EXPECT_TRUE(locality::sequence_is_aligned(64, 128, 64));
  EXPECT_FALSE(locality::sequence_is_aligned(64, 1, 0));
  EXPECT_EQ(locality_sequence_is_aligned(64, 2, 2), 1);
  EXPECT_EQ(locality_sequence_is_aligned(-64, 2, 2), 0);
}

TEST(SequenceResidue, ExhaustedClassIs2200H) {
  // int4 serial near its end: no value of region 3's class is left.
  LocalityStatus status = restart_error(2147483646, true, 1, 3, 2147483647);
  EXPECT_STREQ(status.sqlstate, "2200H");
  EXPECT_NE(std::string(status.message).find("residue class"), std::string::npos);
  EXPECT_NE(std::string(status.detail).find("2147483647"), std::string::npos);

  status = restart_error(kMax, true, 1, 1, kMax);
  EXPECT_STREQ(status.sqlstate, "2200H");
  status = restart_error(kMax - 3, true, 1, 1, kMax);
  EXPECT_STREQ(status.sqlstate, "2200H");
}

TEST(SequenceResidue, RegionIdOutsideTheClassesIs54000) {
  for (int region : {0, -1, LOCALITY_SEQUENCE_STRIDE + 1}) {
    LocalityStatus status = restart_error(1, false, 1, region, kMax);
    EXPECT_STREQ(status.sqlstate, "54000") << region;
    EXPECT_NE(std::string(status.detail).find("1 to 64"), std::string::npos);
  }
}

}  // namespace
