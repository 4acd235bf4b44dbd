// region_name_test.cpp -- the region-name rule of SPEC.md section 2.
#include <gtest/gtest.h>

#include <string>

#include "locality/region_name.hpp"
#include "locality_core.h"

namespace {

LocalityStatus validate(const char* name) {
  LocalityStatus status;
  locality_region_name_validate(name, &status);
  return status;
}

TEST(RegionName, AcceptsTypicalCloudRegions) {
  for (const char* name : {"us-east1", "eu-west1", "ap-east1", "a", "r-", "x0-9"}) {
    EXPECT_TRUE(locality::is_valid_region_name(name)) << name;
    EXPECT_EQ(validate(name).ok, 1) << name;
  }
}

TEST(RegionName, AcceptsSixtyThreeCharacters) {
  std::string name = "a" + std::string(62, 'b');
  EXPECT_TRUE(locality::is_valid_region_name(name));
}

TEST(RegionName, RejectsSixtyFourCharacters) {
  std::string name = "a" + std::string(63, 'b');
  EXPECT_FALSE(locality::is_valid_region_name(name));
  LocalityStatus status = validate(name.c_str());
  EXPECT_EQ(status.ok, 0);
  EXPECT_STREQ(status.sqlstate, "22023");
}

TEST(RegionName, RejectsEmptyAndNull) {
  EXPECT_FALSE(locality::is_valid_region_name(""));
  EXPECT_EQ(validate("").ok, 0);
  EXPECT_EQ(validate(nullptr).ok, 0);
}

TEST(RegionName, RejectsBadCharacters) {
  for (const char* name : {"US-east1", "us_east1", "us east1", "us.east1", "us-éast", "eu/west"}) {
    EXPECT_FALSE(locality::is_valid_region_name(name)) << name;
  }
}

TEST(RegionName, RejectsLeadingDigitOrHyphen) {
  EXPECT_FALSE(locality::is_valid_region_name("1us"));
  EXPECT_FALSE(locality::is_valid_region_name("-us"));
}

TEST(RegionName, ErrorNamesTheValueAndTheRule) {
  LocalityStatus status = validate("Bad Name");
  EXPECT_EQ(status.ok, 0);
  EXPECT_STREQ(status.sqlstate, "22023");
  EXPECT_STREQ(status.message, "invalid region name \"Bad Name\"");
  EXPECT_NE(std::string(status.detail).find("1 to 63"), std::string::npos);
}

TEST(Status, LongMessagesAreTruncatedNotOverflowed) {
  std::string name(5000, 'X');
  LocalityStatus status = validate(name.c_str());
  EXPECT_EQ(status.ok, 0);
  EXPECT_EQ(std::string(status.message).size(), size_t(LOCALITY_MESSAGE_LEN - 1));
}

}  // namespace
