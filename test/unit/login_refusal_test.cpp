// login_refusal_test.cpp -- server refusals of a new connection told from
// unreachable servers in libpq's error text (locality_login_refusal).
#include <gtest/gtest.h>

#include <string>

#include "locality_core.h"

namespace {

LocalityStatus Refusal(const std::string& text, int* refused) {
  LocalityStatus s;
  *refused = locality_login_refusal(text.c_str(), &s);
  return s;
}

TEST(LoginRefusal, RoleWithoutLogin) {
  int refused;
  LocalityStatus s = Refusal(
      "connection to server at \"127.0.0.1\", port 5433 failed: FATAL:  28000: role \"bob\" is "
      "not permitted to log in\nLOCATION:  InitializeSessionUserId, miscinit.c:756\n",
      &refused);
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(s.ok, 0);
  EXPECT_STREQ(s.sqlstate, "28000");
  EXPECT_STREQ(s.message, "role \"bob\" is not permitted to log in");
  EXPECT_STREQ(s.detail, "");
}

TEST(LoginRefusal, PasswordDetailAndHint) {
  int refused;
  LocalityStatus s = Refusal(
      "connection to server at \"10.0.0.1\", port 5432 failed: FATAL:  28P01: password "
      "authentication failed for user \"x\"\nDETAIL:  some detail\nHINT:  some hint\n"
      "LOCATION:  auth_failed, auth.c:323\n",
      &refused);
  EXPECT_EQ(refused, 1);
  EXPECT_STREQ(s.sqlstate, "28P01");
  EXPECT_STREQ(s.message, "password authentication failed for user \"x\"");
  EXPECT_STREQ(s.detail, "some detail");
  EXPECT_STREQ(s.hint, "some hint");
}

TEST(LoginRefusal, TranslatedSeverityAndLastOfSeveralAttempts) {
  int refused;
  LocalityStatus s = Refusal(
      "connection to server at \"a\" (10.0.0.1), port 5432 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n"
      "connection to server at \"a\" (10.0.0.2), port 5432 failed: FATAL:  3D000: database "
      "\"nope\" does not exist\n"
      "connection to server at \"a\" (10.0.0.3), port 5432 failed: FATAL_XX:  53300: sorry, "
      "too many clients already\n",
      &refused);
  EXPECT_EQ(refused, 1);
  EXPECT_STREQ(s.sqlstate, "53300");
  EXPECT_STREQ(s.message, "sorry, too many clients already");
}

TEST(LoginRefusal, UnreachableOrNotServing) {
  int refused;
  LocalityStatus s = Refusal(
      "connection to server at \"127.0.0.1\", port 5433 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n",
      &refused);
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(s.ok, 1);
  Refusal("connection to server at \"h\", port 1 failed: FATAL:  57P03: the database system "
          "is starting up\n",
          &refused);
  EXPECT_EQ(refused, 0);
  Refusal("connection to server at \"h\", port 1 failed: FATAL:  57P01: terminating "
          "connection due to administrator command\n",
          &refused);
  EXPECT_EQ(refused, 0);
  Refusal("server closed the connection unexpectedly\n", &refused);
  EXPECT_EQ(refused, 0);
  Refusal("", &refused);
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(locality_login_refusal(nullptr, &s), 0);
}

TEST(LoginRefusal, MessageTextThatLooksLikeACodeIsNotOne) {
  int refused;
  // No SQLSTATE after the severity (a non-verbose message): not parsed.
  Refusal("connection to server at \"h\", port 1 failed: FATAL:  role \"a:  ABCDE: b\" does not "
          "exist\n",
          &refused);
  EXPECT_EQ(refused, 0);
}

}  // namespace
