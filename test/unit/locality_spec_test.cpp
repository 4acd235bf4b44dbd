// locality_spec_test.cpp -- locality texts of SPEC.md section 3: parsing,
// errors and the canonical form locality.tables prints.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "locality/locality_spec.hpp"
#include "locality/status.hpp"
#include "locality_core.h"

namespace {

struct Parsed {
  int rc;
  LocalityStatus status;
  LocalitySpec spec;
};

Parsed parse(const char* text) {
  Parsed p;
  std::memset(&p.spec, 0xAB, sizeof p.spec);
  p.rc = locality_spec_parse(text, &p.spec, &p.status);
  return p;
}

Parsed parse(const std::string& text) { return parse(text.c_str()); }

std::string format(const LocalitySpec& spec) {
  char buf[256];
  LocalityStatus status;
  EXPECT_EQ(locality_spec_format(&spec, buf, sizeof buf, &status), 1) << status.message;
  return buf;
}

void expect_global(const Parsed& p) {
  ASSERT_EQ(p.rc, 1) << p.status.message;
  EXPECT_EQ(p.spec.kind, LOCALITY_GLOBAL);
  EXPECT_EQ(p.spec.in_primary_region, 0);
  EXPECT_STREQ(p.spec.region, "");
  EXPECT_STREQ(p.spec.column, "");
}

void expect_primary_region(const Parsed& p) {
  ASSERT_EQ(p.rc, 1) << p.status.message;
  EXPECT_EQ(p.spec.kind, LOCALITY_REGIONAL_BY_TABLE);
  EXPECT_EQ(p.spec.in_primary_region, 1);
  EXPECT_STREQ(p.spec.region, "");
  EXPECT_STREQ(p.spec.column, "");
}

void expect_in_region(const Parsed& p, const char* region) {
  ASSERT_EQ(p.rc, 1) << p.status.message;
  EXPECT_EQ(p.spec.kind, LOCALITY_REGIONAL_BY_TABLE);
  EXPECT_EQ(p.spec.in_primary_region, 0);
  EXPECT_STREQ(p.spec.region, region);
  EXPECT_STREQ(p.spec.column, "");
}

void expect_by_row(const Parsed& p, const char* column) {
  ASSERT_EQ(p.rc, 1) << p.status.message;
  EXPECT_EQ(p.spec.kind, LOCALITY_REGIONAL_BY_ROW);
  EXPECT_EQ(p.spec.in_primary_region, 0);
  EXPECT_STREQ(p.spec.region, "");
  EXPECT_STREQ(p.spec.column, column);
}

// An `invalid locality` error at position.
void expect_invalid(const std::string& text, int position) {
  Parsed p = parse(text);
  ASSERT_EQ(p.rc, 0) << text;
  EXPECT_STREQ(p.status.sqlstate, "22023") << text;
  EXPECT_EQ(std::string(p.status.message), "invalid locality \"" + text + "\"");
  EXPECT_STREQ(p.status.hint, locality::kAcceptedLocalityForms);
  EXPECT_EQ(p.status.position, position) << text << ": " << p.status.detail;
}

TEST(LocalitySpec, ParsesGlobal) { expect_global(parse("GLOBAL")); }

TEST(LocalitySpec, ParsesRegionalByTableAsThePrimaryRegion) {
  expect_primary_region(parse("REGIONAL BY TABLE"));
}

TEST(LocalitySpec, ParsesRegionalByTableInPrimaryRegion) {
  expect_primary_region(parse("REGIONAL BY TABLE IN PRIMARY REGION"));
}

TEST(LocalitySpec, ParsesRegionalByTableInQuotedRegion) {
  expect_in_region(parse("REGIONAL BY TABLE IN \"eu-west1\""), "eu-west1");
}

TEST(LocalitySpec, ParsesRegionalByTableInBareRegionFoldedToLowerCase) {
  expect_in_region(parse("REGIONAL BY TABLE IN eu-west1"), "eu-west1");
  expect_in_region(parse("REGIONAL BY TABLE IN EU-West1"), "eu-west1");
}

TEST(LocalitySpec, ParsesCockroachAliasRegionalInRegion) {
  expect_in_region(parse("REGIONAL IN \"us-east1\""), "us-east1");
  expect_in_region(parse("regional in ap-east1"), "ap-east1");
}

TEST(LocalitySpec, ParsesBareRegionalAsThePrimaryRegion) {
  expect_primary_region(parse("REGIONAL"));
  expect_primary_region(parse("REGIONAL IN PRIMARY REGION"));
}

TEST(LocalitySpec, ParsesRegionalByRowWithTheDefaultColumn) {
  expect_by_row(parse("REGIONAL BY ROW"), "region");
}

TEST(LocalitySpec, ParsesRegionalByRowAsUnquotedColumnFoldedToLowerCase) {
  expect_by_row(parse("REGIONAL BY ROW AS Home_Region$2"), "home_region$2");
}

TEST(LocalitySpec, KeepsQuotedColumnCaseAndUnescapesDoubledQuotes) {
  expect_by_row(parse("REGIONAL BY ROW AS \"Home Region\""), "Home Region");
  expect_by_row(parse("REGIONAL BY ROW AS \"say \"\"hi\"\"\""), "say \"hi\"");
}

TEST(LocalitySpec, TreatsAsRegionLikePlainRegionalByRow) {
  for (const char* text : {"REGIONAL BY ROW AS region", "REGIONAL BY ROW AS REGION",
                           "REGIONAL BY ROW AS \"region\""}) {
    Parsed p = parse(text);
    expect_by_row(p, "region");
    EXPECT_EQ(format(p.spec), "REGIONAL BY ROW") << text;
  }
}

TEST(LocalitySpec, KeywordsAreCaseInsensitive) {
  expect_global(parse("global"));
  expect_global(parse("GlObAl"));
  expect_primary_region(parse("regional by table in primary region"));
  expect_in_region(parse("Regional By Table In \"eu-west1\""), "eu-west1");
  expect_by_row(parse("rEgIoNaL bY rOw aS \"X\""), "X");
}

TEST(LocalitySpec, AcceptsArbitraryWhitespace) {
  expect_global(parse("  \tGLOBAL\n"));
  expect_in_region(parse("\nREGIONAL\t\tBY\r\nTABLE   IN\f\"eu-west1\"  "), "eu-west1");
  expect_by_row(parse("REGIONAL BY ROW AS\"c\""), "c");
}

TEST(LocalitySpec, RejectsUnknownTextWithTheAcceptedForms) {
  Parsed p = parse("LOCAL");
  ASSERT_EQ(p.rc, 0);
  EXPECT_STREQ(p.status.sqlstate, "22023");
  EXPECT_STREQ(p.status.message, "invalid locality \"LOCAL\"");
  EXPECT_STREQ(p.status.hint,
               "Accepted forms: GLOBAL, REGIONAL BY TABLE [IN PRIMARY REGION | IN <region>], "
               "REGIONAL BY ROW [AS <column>].");
  EXPECT_STREQ(p.status.detail, "Expected GLOBAL or REGIONAL, found \"LOCAL\".");
  EXPECT_EQ(p.status.position, 1);
}

TEST(LocalitySpec, ErrorQuotesTheTextAsGiven) {
  Parsed p = parse("  global  x ");
  ASSERT_EQ(p.rc, 0);
  EXPECT_STREQ(p.status.message, "invalid locality \"  global  x \"");
  EXPECT_EQ(p.status.position, 11);
}

TEST(LocalitySpec, ReportsThePositionOfTheOffendingToken) {
  expect_invalid("", 1);
  expect_invalid("   ", 4);
  expect_invalid("GLOBALS", 1);
  expect_invalid("GLOBAL junk", 8);
  expect_invalid("GLOBAL BY ROW", 8);
  expect_invalid("REGIONAL BY", 12);
  expect_invalid("REGIONAL BY COLUMN", 13);
  expect_invalid("REGIONAL, BY ROW", 9);
  expect_invalid("REGIONAL BY TABLE IN", 21);
  expect_invalid("REGIONAL BY TABLE AS x", 19);
  expect_invalid("REGIONAL BY TABLE IN PRIMARY", 29);
  expect_invalid("REGIONAL BY TABLE IN PRIMARY ZONE", 30);
  expect_invalid("REGIONAL BY TABLE IN \"eu-west1\" \"us-east1\"", 33);
  expect_invalid("REGIONAL BY ROW IN \"eu-west1\"", 17);
  expect_invalid("REGIONAL BY ROW AS", 19);
  expect_invalid("REGIONAL BY ROW AS a b", 22);
  expect_invalid("REGIONAL BY ROW AS a;", 21);
}

TEST(LocalitySpec, DetailSaysWhatWasExpected) {
  Parsed p = parse("REGIONAL BY ROW AS");
  EXPECT_STREQ(p.status.detail, "Expected a column name, found the end of the text.");
  p = parse("REGIONAL BY TABLE x");
  EXPECT_STREQ(p.status.detail, "Expected IN or the end of the text, found \"x\".");
}

TEST(LocalitySpec, PositionCountsCharactersNotBytes) {
  // "é" is two bytes; the caret must still land on x.
  expect_invalid("REGIONAL BY ROW AS \"\xC3\xA9\" x", 24);
}

TEST(LocalitySpec, RejectsSingleQuotedRegion) {
  expect_invalid("REGIONAL BY TABLE IN 'eu-west1'", 22);
}

TEST(LocalitySpec, RejectsUnquotedColumnThatIsNotAnIdentifier) {
  expect_invalid("REGIONAL BY ROW AS 1col", 20);
  expect_invalid("REGIONAL BY ROW AS my-col", 20);
}

TEST(LocalitySpec, RejectsUnterminatedQuotedIdentifierAtItsStart) {
  expect_invalid("REGIONAL BY TABLE IN \"eu-west1", 22);
  Parsed p = parse("REGIONAL BY ROW AS \"col");
  EXPECT_STREQ(p.status.detail, "Unterminated quoted identifier.");
  EXPECT_EQ(p.status.position, 20);
}

TEST(LocalitySpec, RejectsEmptyQuotedIdentifier) { expect_invalid("REGIONAL BY ROW AS \"\"", 20); }

TEST(LocalitySpec, RejectsInvalidRegionNamesWithTheRegionRule) {
  struct Case {
    const char* text;
    const char* message;
    int position;
  };
  for (const Case& c : {
           Case{"REGIONAL BY TABLE IN \"EU-West1\"", "invalid region name \"EU-West1\"", 22},
           Case{"REGIONAL BY TABLE IN eu_west1", "invalid region name \"eu_west1\"", 22},
           Case{"REGIONAL IN 1eu", "invalid region name \"1eu\"", 13},
           Case{"REGIONAL IN \"eu west\"", "invalid region name \"eu west\"", 13},
       }) {
    Parsed p = parse(c.text);
    ASSERT_EQ(p.rc, 0) << c.text;
    EXPECT_STREQ(p.status.sqlstate, "22023") << c.text;
    EXPECT_STREQ(p.status.message, c.message);
    EXPECT_NE(std::string(p.status.detail).find("1 to 63"), std::string::npos);
    EXPECT_EQ(p.status.position, c.position) << c.text;
  }
}

TEST(LocalitySpec, AcceptsRegionOfSixtyThreeCharactersOnly) {
  std::string region = "r" + std::string(62, 'x');
  expect_in_region(parse("REGIONAL IN " + region), region.c_str());
  Parsed p = parse("REGIONAL IN " + region + "x");
  EXPECT_EQ(p.rc, 0);
  EXPECT_STREQ(p.status.sqlstate, "22023");
}

TEST(LocalitySpec, RejectsColumnOverSixtyThreeBytesAsNameTooLong) {
  std::string column(63, 'c');
  expect_by_row(parse("REGIONAL BY ROW AS " + column), column.c_str());
  for (const std::string& text :
       {"REGIONAL BY ROW AS " + column + "c", "REGIONAL BY ROW AS \"" + column + "C\""}) {
    Parsed p = parse(text);
    ASSERT_EQ(p.rc, 0);
    EXPECT_STREQ(p.status.sqlstate, "42622");
    EXPECT_NE(std::string(p.status.message).find("is too long"), std::string::npos);
    EXPECT_EQ(std::string(p.status.message).rfind("identifier \"", 0), 0u);
    EXPECT_EQ(p.status.position, 20);
  }
  // 62 characters and an escaped quote are 63 bytes: it fits.
  std::string quoted = "\"" + std::string(62, 'q') + "\"\"\"";
  expect_by_row(parse("REGIONAL BY ROW AS " + quoted), (std::string(62, 'q') + "\"").c_str());
}

TEST(LocalitySpec, RejectsNullAndEmptyText) {
  Parsed p = parse(static_cast<const char*>(nullptr));
  EXPECT_EQ(p.rc, 0);
  EXPECT_STREQ(p.status.sqlstate, "22023");
  EXPECT_STREQ(p.status.message, "invalid locality \"\"");
}

TEST(LocalitySpec, ParseZeroesTheWholeOutputOnFailure) {
  Parsed p = parse("nonsense");
  ASSERT_EQ(p.rc, 0);
  LocalitySpec zero;
  std::memset(&zero, 0, sizeof zero);
  EXPECT_EQ(std::memcmp(&p.spec, &zero, sizeof zero), 0);
}

TEST(LocalitySpec, ParseLeavesNoStaleBytesOnSuccess) {
  Parsed p = parse("REGIONAL BY ROW AS c");
  ASSERT_EQ(p.rc, 1);
  LocalitySpec expected;
  std::memset(&expected, 0, sizeof expected);
  expected.kind = LOCALITY_REGIONAL_BY_ROW;
  expected.column[0] = 'c';
  EXPECT_EQ(std::memcmp(&p.spec, &expected, sizeof expected), 0);
}

TEST(LocalitySpec, FormatsCanonicalUpperCase) {
  EXPECT_EQ(format(parse("global").spec), "GLOBAL");
  EXPECT_EQ(format(parse("regional").spec), "REGIONAL BY TABLE IN PRIMARY REGION");
  EXPECT_EQ(format(parse("regional by table").spec), "REGIONAL BY TABLE IN PRIMARY REGION");
  EXPECT_EQ(format(parse("regional in eu-west1").spec), "REGIONAL BY TABLE IN \"eu-west1\"");
  EXPECT_EQ(format(parse("regional by row").spec), "REGIONAL BY ROW");
  EXPECT_EQ(format(parse("regional by row as Col").spec), "REGIONAL BY ROW AS \"col\"");
}

TEST(LocalitySpec, FormatsColumnsDoublingEmbeddedQuotes) {
  EXPECT_EQ(format(parse("REGIONAL BY ROW AS \"a \"\"b\"\"\"").spec),
            "REGIONAL BY ROW AS \"a \"\"b\"\"\"");
}

TEST(LocalitySpec, FormatTreatsEmptyColumnAsTheDefault) {
  LocalitySpec spec;
  std::memset(&spec, 0, sizeof spec);
  spec.kind = LOCALITY_REGIONAL_BY_ROW;
  EXPECT_EQ(format(spec), "REGIONAL BY ROW");
}

TEST(LocalitySpec, FormatRoundTripsEveryAcceptedForm) {
  for (const char* text :
       {"GLOBAL", "REGIONAL BY TABLE", "REGIONAL BY TABLE IN PRIMARY REGION",
        "REGIONAL BY TABLE IN \"eu-west1\"", "REGIONAL BY TABLE IN us-east1", "REGIONAL",
        "REGIONAL IN \"ap-east1\"", "REGIONAL BY ROW", "REGIONAL BY ROW AS region",
        "REGIONAL BY ROW AS \"Weird \"\" Name\"", "REGIONAL BY ROW AS crdb_region",
        "REGIONAL BY ROW AS \"\xC3\xA9t\xC3\xA9\""}) {
    Parsed first = parse(text);
    ASSERT_EQ(first.rc, 1) << text;
    std::string canonical = format(first.spec);
    Parsed second = parse(canonical);
    ASSERT_EQ(second.rc, 1) << canonical;
    EXPECT_EQ(std::memcmp(&first.spec, &second.spec, sizeof first.spec), 0) << text;
    EXPECT_EQ(format(second.spec), canonical);
  }
}

TEST(LocalitySpec, FormatReportsABufferTooSmall) {
  LocalitySpec spec = parse("REGIONAL BY TABLE IN \"eu-west1\"").spec;
  const std::string canonical = "REGIONAL BY TABLE IN \"eu-west1\"";
  std::vector<char> buf(canonical.size() + 1, 'x');
  LocalityStatus status;
  EXPECT_EQ(locality_spec_format(&spec, buf.data(), buf.size(), &status), 1);
  EXPECT_EQ(std::string(buf.data()), canonical);

  EXPECT_EQ(locality_spec_format(&spec, buf.data(), canonical.size(), &status), 0);
  EXPECT_STREQ(status.sqlstate, "54000");
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(locality_spec_format(&spec, nullptr, 0, &status), 0);
  EXPECT_STREQ(status.sqlstate, "54000");
}

TEST(LocalitySpec, FormatRejectsAnInconsistentSpec) {
  char buf[256];
  LocalityStatus status;
  LocalitySpec spec;

  std::memset(&spec, 0, sizeof spec);
  EXPECT_EQ(locality_spec_format(&spec, buf, sizeof buf, &status), 0);  // kind 0
  EXPECT_STREQ(status.sqlstate, "22023");

  spec.kind = LOCALITY_REGIONAL_BY_TABLE;  // neither primary nor a region
  EXPECT_EQ(locality_spec_format(&spec, buf, sizeof buf, &status), 0);
  EXPECT_STREQ(status.message, "invalid region name \"\"");

  spec.in_primary_region = 1;
  std::strcpy(spec.region, "eu-west1");  // both
  EXPECT_EQ(locality_spec_format(&spec, buf, sizeof buf, &status), 0);
  EXPECT_STREQ(status.sqlstate, "22023");

  spec.in_primary_region = 0;
  std::memset(spec.region, 'a', sizeof spec.region);  // no NUL
  EXPECT_EQ(locality_spec_format(&spec, buf, sizeof buf, &status), 0);
  EXPECT_STREQ(status.sqlstate, "22023");

  EXPECT_EQ(locality_spec_format(nullptr, buf, sizeof buf, &status), 0);
}

TEST(LocalitySpec, CppApiRoundTripsGeneratedLocalities) {
  std::mt19937 rng(20240611);
  const std::string column_chars = "abcXYZ_$ \"'.-09\xC3\xA9";
  for (int i = 0; i < 2000; ++i) {
    locality::TableLocality spec;
    switch (rng() % 3) {
      case 0:
        spec.kind = locality::TableLocality::Kind::kGlobal;
        break;
      case 1:
        spec.kind = locality::TableLocality::Kind::kRegionalByTable;
        if (rng() % 2) {
          spec.region = "r";
          for (int n = rng() % 62; n > 0; --n) spec.region.push_back("ab-9"[rng() % 4]);
        }
        break;
      default:
        spec.kind = locality::TableLocality::Kind::kRegionalByRow;
        spec.column = std::string(1, "aZ_ \""[rng() % 5]);
        for (int n = rng() % 40; n > 0; --n)
          spec.column.push_back(column_chars[rng() % column_chars.size()]);
    }
    std::string text = locality::format_locality(spec);
    EXPECT_EQ(locality::parse_locality(text), spec) << text;
  }
}

TEST(LocalitySpec, RandomWordSequencesNeverCrashAndFailCleanly) {
  const std::vector<std::string> words = {
      "GLOBAL",   "REGIONAL", "BY",     "TABLE",  "ROW",        "IN",
      "AS",       "PRIMARY",  "REGION", "global", "regional",   "\"eu-west1\"",
      "eu-west1", "\"EU\"",   "\"",     "\"\"",   "\"a\"\"b\"", "'x'",
      ";",        ",",        "-",      "col",    "1x",         std::string(64, 'z'),
      "\xC3\xA9", "\xFF",     "(",      ")",      "--",         "/*"};
  std::mt19937 rng(7);
  int ok = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string text;
    for (int n = rng() % 7; n > 0; --n) {
      text += words[rng() % words.size()];
      if (rng() % 4) text += " ";
    }
    Parsed p = parse(text);
    if (p.rc == 1) {
      ++ok;
      Parsed again = parse(format(p.spec));
      ASSERT_EQ(again.rc, 1) << text;
      EXPECT_EQ(std::memcmp(&p.spec, &again.spec, sizeof p.spec), 0) << text;
      continue;
    }
    std::string state = p.status.sqlstate;
    EXPECT_TRUE(state == "22023" || state == "42622") << text << " -> " << state;
    EXPECT_GE(p.status.position, 1) << text;
    EXPECT_LE(p.status.position, static_cast<int>(text.size()) + 1) << text;
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
