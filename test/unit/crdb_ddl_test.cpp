// crdb_ddl_test.cpp -- the CockroachDB multi-region DDL of locality.execute()
// (SPEC.md section 3): statements, quoting rules and errors.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "locality/crdb_ddl.hpp"
#include "locality/status.hpp"
#include "locality_core.h"

namespace {

struct Parsed {
  int rc;
  LocalityStatus status;
  LocalityDdlStatement stmt;
};

Parsed parse(const char* sql) {
  Parsed p;
  std::memset(&p.stmt, 0xAB, sizeof p.stmt);
  p.rc = locality_ddl_parse(sql, &p.stmt, &p.status);
  return p;
}

Parsed parse(const std::string& sql) { return parse(sql.c_str()); }

Parsed parse_ok(const std::string& sql) {
  Parsed p = parse(sql);
  EXPECT_EQ(p.rc, 1) << sql << ": " << p.status.sqlstate << " " << p.status.message << " ("
                     << p.status.hint << ")";
  return p;
}

// The failed status of sql, checked for sqlstate and position.
LocalityStatus expect_error(const std::string& sql, const char* sqlstate, int position) {
  Parsed p = parse(sql);
  EXPECT_EQ(p.rc, 0) << sql;
  EXPECT_STREQ(p.status.sqlstate, sqlstate) << sql << ": " << p.status.message;
  EXPECT_EQ(p.status.position, position) << sql << ": " << p.status.message;
  return p.status;
}

LocalityStatus expect_syntax_error(const std::string& sql, const std::string& message, int position,
                                   const std::string& hint) {
  LocalityStatus status = expect_error(sql, "42601", position);
  EXPECT_EQ(std::string(status.message), message) << sql;
  EXPECT_EQ(std::string(status.hint), hint) << sql;
  return status;
}

TEST(CrdbDdl, ParsesAlterTableSetLocalityGlobal) {
  Parsed p = parse_ok("ALTER TABLE users SET LOCALITY GLOBAL");
  EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_SET_LOCALITY);
  EXPECT_STREQ(p.stmt.schema_name, "");
  EXPECT_STREQ(p.stmt.table_name, "users");
  EXPECT_STREQ(p.stmt.database_name, "");
  EXPECT_STREQ(p.stmt.region, "");
  EXPECT_EQ(p.stmt.missing_ok, 0);
  EXPECT_EQ(p.stmt.locality.kind, LOCALITY_GLOBAL);
  EXPECT_STREQ(p.stmt.conninfo, "");
}

TEST(CrdbDdl, ParsesEveryLocalityFormOnTokens) {
  struct Case {
    const char* locality;
    int kind;
    int in_primary_region;
    const char* region;
    const char* column;
  };
  for (const Case& c : {
           Case{"GLOBAL", LOCALITY_GLOBAL, 0, "", ""},
           Case{"REGIONAL BY TABLE", LOCALITY_REGIONAL_BY_TABLE, 1, "", ""},
           Case{"REGIONAL BY TABLE IN PRIMARY REGION", LOCALITY_REGIONAL_BY_TABLE, 1, "", ""},
           Case{"REGIONAL BY TABLE IN \"us-east1\"", LOCALITY_REGIONAL_BY_TABLE, 0, "us-east1", ""},
           Case{"REGIONAL BY TABLE IN UsEast", LOCALITY_REGIONAL_BY_TABLE, 0, "useast", ""},
           Case{"REGIONAL IN \"r\"", LOCALITY_REGIONAL_BY_TABLE, 0, "r", ""},
           Case{"REGIONAL", LOCALITY_REGIONAL_BY_TABLE, 1, "", ""},
           Case{"REGIONAL BY ROW", LOCALITY_REGIONAL_BY_ROW, 0, "", "region"},
           Case{"REGIONAL BY ROW AS region", LOCALITY_REGIONAL_BY_ROW, 0, "", "region"},
           Case{"REGIONAL BY ROW AS \"my col\"", LOCALITY_REGIONAL_BY_ROW, 0, "", "my col"},
           Case{"REGIONAL BY ROW AS Crdb_Region", LOCALITY_REGIONAL_BY_ROW, 0, "", "crdb_region"},
       }) {
    Parsed p = parse_ok(std::string("ALTER TABLE t SET LOCALITY ") + c.locality);
    EXPECT_EQ(p.stmt.locality.kind, c.kind) << c.locality;
    EXPECT_EQ(p.stmt.locality.in_primary_region, c.in_primary_region) << c.locality;
    EXPECT_STREQ(p.stmt.locality.region, c.region) << c.locality;
    EXPECT_STREQ(p.stmt.locality.column, c.column) << c.locality;
  }
}

TEST(CrdbDdl, ParsesSchemaQualifiedAndThreePartTableNames) {
  Parsed p = parse_ok("ALTER TABLE App.Users SET LOCALITY GLOBAL");
  EXPECT_STREQ(p.stmt.schema_name, "app");
  EXPECT_STREQ(p.stmt.table_name, "users");
  EXPECT_STREQ(p.stmt.database_name, "");

  p = parse_ok("ALTER TABLE shop . \"Public\" . orders SET LOCALITY GLOBAL");
  EXPECT_STREQ(p.stmt.database_name, "shop");
  EXPECT_STREQ(p.stmt.schema_name, "Public");
  EXPECT_STREQ(p.stmt.table_name, "orders");

  expect_syntax_error("ALTER TABLE a.b.c.d SET LOCALITY GLOBAL", "syntax error at or near \".\"",
                      18, "Expected SET LOCALITY. A table name has at most three parts.");
}

TEST(CrdbDdl, QuotedIdentifiersKeepCaseAndUnescapeDoubledQuotes) {
  Parsed p = parse_ok("ALTER TABLE \"My \"\"Big\"\" Table\" SET LOCALITY GLOBAL");
  EXPECT_STREQ(p.stmt.table_name, "My \"Big\" Table");
  p = parse_ok("ALTER TABLE \"a.b\" SET LOCALITY GLOBAL");
  EXPECT_STREQ(p.stmt.schema_name, "");
  EXPECT_STREQ(p.stmt.table_name, "a.b");
  p = parse_ok("ALTER TABLE MyTable SET LOCALITY GLOBAL");
  EXPECT_STREQ(p.stmt.table_name, "mytable");
}

TEST(CrdbDdl, ParsesAlterTableIfExists) {
  Parsed p = parse_ok("ALTER TABLE IF EXISTS t SET LOCALITY REGIONAL BY ROW");
  EXPECT_EQ(p.stmt.missing_ok, 1);
  EXPECT_STREQ(p.stmt.table_name, "t");
}

TEST(CrdbDdl, ATableNamedIfIsNotIfExists) {
  Parsed p = parse_ok("ALTER TABLE if SET LOCALITY GLOBAL");
  EXPECT_EQ(p.stmt.missing_ok, 0);
  EXPECT_STREQ(p.stmt.table_name, "if");
}

TEST(CrdbDdl, ParsesPrimaryRegionWithAndWithoutSet) {
  for (const char* sql : {"ALTER DATABASE db PRIMARY REGION \"eu-west1\"",
                          "ALTER DATABASE db SET PRIMARY REGION \"eu-west1\"",
                          "ALTER DATABASE db PRIMARY REGION = \"eu-west1\"",
                          "alter database DB set primary region = \"eu-west1\";"}) {
    Parsed p = parse_ok(sql);
    EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_SET_PRIMARY_REGION) << sql;
    EXPECT_STREQ(p.stmt.database_name, "db") << sql;
    EXPECT_STREQ(p.stmt.region, "eu-west1") << sql;
    EXPECT_STREQ(p.stmt.table_name, "") << sql;
  }
}

TEST(CrdbDdl, ParsesAddRegionWithConnection) {
  Parsed p =
      parse_ok("ALTER DATABASE app ADD REGION \"ap-east1\" CONNECTION 'host=ap.example port=5432'");
  EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_ADD_REGION);
  EXPECT_STREQ(p.stmt.database_name, "app");
  EXPECT_STREQ(p.stmt.region, "ap-east1");
  EXPECT_STREQ(p.stmt.conninfo, "host=ap.example port=5432");
  EXPECT_EQ(p.stmt.missing_ok, 0);
}

TEST(CrdbDdl, ParsesAddRegionIfNotExists) {
  Parsed p = parse_ok("ALTER DATABASE app ADD REGION IF NOT EXISTS apeast CONNECTION 'host=x'");
  EXPECT_EQ(p.stmt.missing_ok, 1);
  EXPECT_STREQ(p.stmt.region, "apeast");
  expect_syntax_error("ALTER DATABASE app ADD REGION IF NOT \"r\" CONNECTION 'host=x'",
                      "syntax error at or near \"\"r\"\"", 38, "Expected EXISTS.");
}

TEST(CrdbDdl, StringLiteralsUnescapeDoubledQuotesAndKeepBackslashes) {
  Parsed p = parse_ok("ALTER DATABASE d ADD REGION r CONNECTION 'password=''it''s'' dir=C:\\x'");
  EXPECT_STREQ(p.stmt.conninfo, "password='it's' dir=C:\\x");
}

TEST(CrdbDdl, EscapeStringsDecodeBackslashEscapes) {
  Parsed p =
      parse_ok("ALTER DATABASE d ADD REGION r CONNECTION e'a\\\\b\\'c\\nd\\te''f\\x41\\101\\q'");
  EXPECT_STREQ(p.stmt.conninfo, "a\\b'c\nd\te'fAAq");
  p = parse_ok("ALTER DATABASE d ADD REGION r CONNECTION E'host=x'");
  EXPECT_STREQ(p.stmt.conninfo, "host=x");
}

TEST(CrdbDdl, EscapeStringsRefuseNulAndUnicodeEscapes) {
  const std::string prefix = "ALTER DATABASE d ADD REGION r CONNECTION ";
  expect_error(prefix + "e'a\\0b'", "22021", 45);
  expect_error(prefix + "e'a\\x00'", "22021", 45);
  expect_error(prefix + "e'\\u0041'", "0A000", 44);
}

TEST(CrdbDdl, ParsesDropRegion) {
  Parsed p = parse_ok("ALTER DATABASE app DROP REGION \"eu-west1\"");
  EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_DROP_REGION);
  EXPECT_STREQ(p.stmt.region, "eu-west1");
  EXPECT_EQ(p.stmt.missing_ok, 0);
  p = parse_ok("ALTER DATABASE app DROP REGION IF EXISTS \"eu-west1\"");
  EXPECT_EQ(p.stmt.missing_ok, 1);
  EXPECT_STREQ(p.stmt.region, "eu-west1");
}

TEST(CrdbDdl, ARegionNamedIfIsNotIfExists) {
  Parsed p = parse_ok("ALTER DATABASE app DROP REGION if");
  EXPECT_EQ(p.stmt.missing_ok, 0);
  EXPECT_STREQ(p.stmt.region, "if");
}

TEST(CrdbDdl, KeywordsAreCaseInsensitive) {
  Parsed p = parse_ok("aLtEr TaBlE t sEt LoCaLiTy ReGiOnAl By RoW");
  EXPECT_EQ(p.stmt.locality.kind, LOCALITY_REGIONAL_BY_ROW);
  p = parse_ok("alter database d add region if not exists r connection 'c'");
  EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_ADD_REGION);
}

TEST(CrdbDdl, UnquotedRegionsAreFoldedQuotedOnesMustAlreadyBeLowerCase) {
  Parsed p = parse_ok("ALTER DATABASE d PRIMARY REGION UsEast");
  EXPECT_STREQ(p.stmt.region, "useast");
  LocalityStatus status = expect_error("ALTER DATABASE d PRIMARY REGION \"US-East1\"", "22023", 33);
  EXPECT_STREQ(status.message, "invalid region name \"US-East1\"");
  status = expect_error("ALTER DATABASE d DROP REGION my_region", "22023", 30);
  EXPECT_STREQ(status.message, "invalid region name \"my_region\"");
}

TEST(CrdbDdl, UnquotedHyphenatedRegionGetsAQuotingHint) {
  expect_syntax_error("ALTER DATABASE d ADD REGION us-east1 CONNECTION 'x'",
                      "syntax error at or near \"-\"", 31,
                      "Expected the end of the region name. Region names that contain \"-\" must "
                      "be double-quoted, as in \"us-east1\".");
  expect_error("ALTER TABLE t SET LOCALITY REGIONAL IN eu-west1", "42601", 42);
}

TEST(CrdbDdl, SkipsLineAndBlockComments) {
  Parsed p = parse_ok(
      "-- move it\nALTER /* the */ TABLE t /* nested /* comment */ still */ SET LOCALITY\n"
      "GLOBAL -- done\n");
  EXPECT_EQ(p.stmt.locality.kind, LOCALITY_GLOBAL);
  p = parse_ok("ALTER TABLE t SET LOCALITY GLOBAL; -- trailing comment");
  EXPECT_EQ(p.stmt.kind, LOCALITY_DDL_SET_LOCALITY);
}

TEST(CrdbDdl, AcceptsOneTrailingSemicolon) {
  parse_ok("ALTER TABLE t SET LOCALITY GLOBAL;");
  parse_ok("ALTER TABLE t SET LOCALITY GLOBAL ;  \n");
}

TEST(CrdbDdl, RejectsAnythingAfterTheSemicolon) {
  expect_syntax_error("ALTER TABLE t SET LOCALITY GLOBAL; SELECT 1",
                      "syntax error at or near \"SELECT\"", 36,
                      "Expected the end of the statement. locality.execute() runs one statement "
                      "at a time.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY GLOBAL;;", "syntax error at or near \";\"", 35,
                      "Expected the end of the statement. locality.execute() runs one statement "
                      "at a time.");
}

TEST(CrdbDdl, RejectsTrailingGarbage) {
  expect_syntax_error("ALTER TABLE t SET LOCALITY GLOBAL CASCADE",
                      "syntax error at or near \"CASCADE\"", 35,
                      "Expected the end of the statement.");
  expect_syntax_error("ALTER DATABASE d DROP REGION r, s", "syntax error at or near \",\"", 31,
                      "Expected the end of the statement.");
}

TEST(CrdbDdl, SyntaxErrorsNameTheTokenThePositionAndWhatWasExpected) {
  expect_syntax_error("ALTER TABLE t SET LOCALITIES GLOBAL",
                      "syntax error at or near \"LOCALITIES\"", 19, "Expected LOCALITY.");
  expect_syntax_error("ALTER TABLE t RENAME TO u", "syntax error at or near \"RENAME\"", 15,
                      "Expected SET LOCALITY.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY", "syntax error at end of input", 27,
                      "Expected GLOBAL or REGIONAL.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY REGIONAL BY", "syntax error at end of input", 39,
                      "Expected TABLE or ROW.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY REGIONAL BY ROW IN \"r\"",
                      "syntax error at or near \"IN\"", 44,
                      "Expected AS or the end of the statement.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY REGIONAL BY TABLE IN",
                      "syntax error at end of input", 48, "Expected a region name.");
  expect_syntax_error("ALTER TABLE t SET LOCALITY REGIONAL BY ROW AS 'col'",
                      "syntax error at or near \"'col'\"", 47, "Expected a column name.");
  expect_syntax_error("ALTER TABLE 1t SET LOCALITY GLOBAL", "syntax error at or near \"1t\"", 13,
                      "Expected a table name.");
  expect_syntax_error("ALTER DATABASE d RENAME TO e", "syntax error at or near \"RENAME\"", 18,
                      "Expected one of: PRIMARY REGION, SET PRIMARY REGION, ADD REGION, DROP "
                      "REGION.");
  expect_syntax_error("ALTER DATABASE d SET PRIMARY \"r\"", "syntax error at or near \"\"r\"\"", 30,
                      "Expected REGION.");
  expect_syntax_error("ALTER DATABASE d ADD REGION \"r\"", "syntax error at end of input", 32,
                      "Expected CONNECTION '<conninfo>'.");
  expect_syntax_error("ALTER DATABASE d ADD REGION \"r\" CONNECTION host",
                      "syntax error at or near \"host\"", 44,
                      "Expected a string literal holding the region's conninfo.");
  expect_syntax_error("ALTER DATABASE d ADD REGION 'r' CONNECTION 'x'",
                      "syntax error at or near \"'r'\"", 29, "Expected a region name.");
}

TEST(CrdbDdl, PositionCountsCharactersNotBytes) {
  // "é" is two bytes; the caret must still land on the bad token.
  expect_error("ALTER TABLE \"\xC3\xA9\" SET LOCALITY nowhere", "42601", 30);
}

TEST(CrdbDdl, UnterminatedQuotesPointAtTheirStart) {
  LocalityStatus status = expect_error("ALTER TABLE \"users SET LOCALITY GLOBAL", "42601", 13);
  EXPECT_STREQ(status.message, "unterminated quoted identifier");
  status = expect_error("ALTER DATABASE d ADD REGION r CONNECTION 'host=x", "42601", 42);
  EXPECT_STREQ(status.message, "unterminated quoted string");
  status = expect_error("ALTER DATABASE d ADD REGION r CONNECTION e'host=x\\'", "42601", 42);
  EXPECT_STREQ(status.message, "unterminated quoted string");
  status = expect_error("ALTER TABLE t SET LOCALITY GLOBAL /* bye", "42601", 35);
  EXPECT_STREQ(status.message, "unterminated /* comment");
  status = expect_error("ALTER TABLE \"\" SET LOCALITY GLOBAL", "42601", 13);
  EXPECT_STREQ(status.message, "zero-length delimited identifier at or near \"\"\"\"");
}

TEST(CrdbDdl, AnEarlierSyntaxErrorWinsOverALaterUnterminatedQuote) {
  LocalityStatus status = expect_error("ALTER TABLE t SET LOCALE 'oops", "42601", 19);
  EXPECT_STREQ(status.message, "syntax error at or near \"LOCALE\"");
}

TEST(CrdbDdl, ShowRegionsPointsAtTheView) {
  for (const char* sql : {"SHOW REGIONS", "show regions from database d;", "SHOW REGIONS;"}) {
    LocalityStatus status = expect_error(sql, "0A000", 1);
    EXPECT_STREQ(status.message, "SHOW REGIONS is not supported by locality.execute()");
    EXPECT_STREQ(status.hint, "Query the view locality.regions.");
  }
}

TEST(CrdbDdl, OtherStatementsAreUnsupported) {
  for (const char* sql : {"SELECT 1", "CREATE TABLE t (a int)", "ALTER INDEX i RENAME TO j",
                          "DROP TABLE t", "SHOW TABLES", "ALTER", "'str'", "(1)"}) {
    LocalityStatus status = expect_error(sql, "0A000", 1);
    EXPECT_STREQ(status.message, "unsupported statement") << sql;
    EXPECT_STREQ(status.hint, locality::kSupportedDdlForms) << sql;
  }
  LocalityStatus status = expect_error("  -- c\n  GRANT x", "0A000", 10);
  EXPECT_STREQ(status.message, "unsupported statement");
}

TEST(CrdbDdl, OtherCockroachMultiRegionFormsAreUnsupportedNotSyntaxErrors) {
  LocalityStatus status = expect_error("ALTER DATABASE d SURVIVE REGION FAILURE", "0A000", 18);
  EXPECT_STREQ(status.message, "ALTER DATABASE ... SURVIVE is not supported by locality.execute()");
  status = expect_error("ALTER DATABASE d add super region \"s\" VALUES \"a\"", "0A000", 18);
  EXPECT_STREQ(status.message,
               "ALTER DATABASE ... ADD SUPER is not supported by locality.execute()");
  expect_error("ALTER DATABASE d SET SECONDARY REGION \"r\"", "0A000", 18);
  expect_error("ALTER DATABASE d PLACEMENT RESTRICTED", "0A000", 18);
}

TEST(CrdbDdl, AnEmptyStatementIsASyntaxError) {
  for (const char* sql : {"", "   ", "-- nothing\n", "/* nothing */"}) {
    LocalityStatus status = expect_error(sql, "42601", static_cast<int>(std::strlen(sql)) + 1);
    EXPECT_STREQ(status.message, "syntax error at end of input") << sql;
  }
  expect_error(";", "42601", 1);
  Parsed p = parse(static_cast<const char*>(nullptr));
  EXPECT_EQ(p.rc, 0);
  EXPECT_STREQ(p.status.message, "syntax error at end of input");
}

TEST(CrdbDdl, IdentifiersOverSixtyThreeBytesAreNameTooLong) {
  const std::string ok(63, 'n');
  const std::string long_name(64, 'n');
  Parsed p = parse_ok("ALTER TABLE " + ok + "." + ok + " SET LOCALITY REGIONAL BY ROW AS " + ok);
  EXPECT_EQ(std::string(p.stmt.schema_name), ok);
  EXPECT_EQ(std::string(p.stmt.table_name), ok);
  EXPECT_EQ(std::string(p.stmt.locality.column), ok);
  p = parse_ok("ALTER DATABASE " + ok + " DROP REGION r");
  EXPECT_EQ(std::string(p.stmt.database_name), ok);

  LocalityStatus status =
      expect_error("ALTER TABLE " + long_name + " SET LOCALITY GLOBAL", "42622", 13);
  EXPECT_EQ(std::string(status.message), "identifier \"" + long_name + "\" is too long");
  expect_error("ALTER TABLE s.\"" + long_name + "\" SET LOCALITY GLOBAL", "42622", 15);
  expect_error("ALTER TABLE " + long_name + ".t SET LOCALITY GLOBAL", "42622", 13);
  expect_error("ALTER TABLE t SET LOCALITY REGIONAL BY ROW AS " + long_name, "42622", 47);
  expect_error("ALTER DATABASE " + long_name + " DROP REGION r", "42622", 16);
  // A region is a region name first: its rule covers the length.
  expect_error("ALTER DATABASE d DROP REGION r" + long_name, "22023", 30);
}

TEST(CrdbDdl, ConninfoFillsTheBufferButIsNeverTruncated) {
  const std::string prefix = "ALTER DATABASE d ADD REGION r CONNECTION '";
  const std::string fits(LOCALITY_CONNINFO_MAX - 1, 'c');
  Parsed p = parse_ok(prefix + fits + "'");
  EXPECT_EQ(std::string(p.stmt.conninfo), fits);

  LocalityStatus status = expect_error(prefix + fits + "c'", "22023", 42);
  EXPECT_STREQ(status.message, "conninfo is too long");
  // Escapes count after decoding: 2047 quotes written as '' fit.
  p = parse_ok(prefix + std::string(2 * (LOCALITY_CONNINFO_MAX - 1), '\'') + "'");
  EXPECT_EQ(std::string(p.stmt.conninfo), std::string(LOCALITY_CONNINFO_MAX - 1, '\''));
}

TEST(CrdbDdl, OutputIsFullyReinitialisedOnEveryCall) {
  LocalityDdlStatement stmt;
  LocalityStatus status;
  std::memset(&stmt, 0xAB, sizeof stmt);
  ASSERT_EQ(locality_ddl_parse("ALTER DATABASE d ADD REGION IF NOT EXISTS r CONNECTION 'host=x'",
                               &stmt, &status),
            1);
  ASSERT_EQ(locality_ddl_parse("ALTER DATABASE e DROP REGION s", &stmt, &status), 1);
  LocalityDdlStatement expected;
  std::memset(&expected, 0, sizeof expected);
  expected.kind = LOCALITY_DDL_DROP_REGION;
  std::strcpy(expected.database_name, "e");
  std::strcpy(expected.region, "s");
  EXPECT_EQ(std::memcmp(&stmt, &expected, sizeof stmt), 0);

  std::memset(&stmt, 0xAB, sizeof stmt);
  ASSERT_EQ(locality_ddl_parse("ALTER DATABASE e DROP REGION", &stmt, &status), 0);
  std::memset(&expected, 0, sizeof expected);
  EXPECT_EQ(std::memcmp(&stmt, &expected, sizeof stmt), 0);
}

TEST(CrdbDdl, ANullStatusOrOutputIsTolerated) {
  LocalityDdlStatement stmt;
  EXPECT_EQ(locality_ddl_parse("ALTER TABLE t SET LOCALITY GLOBAL", &stmt, nullptr), 1);
  EXPECT_EQ(locality_ddl_parse("nonsense", &stmt, nullptr), 0);
  LocalityStatus status;
  EXPECT_EQ(locality_ddl_parse("ALTER TABLE t SET LOCALITY GLOBAL", nullptr, &status), 1);
}

TEST(CrdbDdl, CppApiMatchesTheCApi) {
  locality::CrdbDdlStatement stmt =
      locality::parse_crdb_ddl("ALTER TABLE s.t SET LOCALITY REGIONAL IN \"eu-west1\"");
  EXPECT_EQ(stmt.kind, locality::CrdbDdlStatement::Kind::kSetLocality);
  EXPECT_EQ(stmt.schema_name, "s");
  EXPECT_EQ(stmt.table_name, "t");
  EXPECT_EQ(locality::format_locality(stmt.locality), "REGIONAL BY TABLE IN \"eu-west1\"");
  try {
    locality::parse_crdb_ddl("ALTER TABLE t SET LOCALITY");
    FAIL() << "expected a syntax error";
  } catch (const locality::Error& e) {
    EXPECT_EQ(e.sqlstate(), "42601");
    EXPECT_EQ(e.position(), 27);
  }
}

// Random token soup, mostly built by mutating valid statements so the parser
// gets deep before it fails.
TEST(CrdbDdl, RandomTokenSequencesNeverCrashAndFailCleanly) {
  const std::vector<std::string> seeds = {
      "ALTER TABLE s.t SET LOCALITY REGIONAL BY TABLE IN \"us-east1\" ;",
      "ALTER TABLE IF EXISTS t SET LOCALITY REGIONAL BY ROW AS \"my col\"",
      "ALTER TABLE t SET LOCALITY GLOBAL",
      "ALTER TABLE t SET LOCALITY REGIONAL IN \"r\"",
      "ALTER DATABASE d SET PRIMARY REGION \"eu-west1\"",
      "ALTER DATABASE d DROP REGION IF EXISTS \"eu-west1\"",
      "ALTER DATABASE d ADD REGION IF NOT EXISTS \"ap-east1\" CONNECTION 'host=a'",
      "SHOW REGIONS"};
  const std::vector<std::string> vocabulary = {"ALTER",
                                               "TABLE",
                                               "DATABASE",
                                               "SET",
                                               "LOCALITY",
                                               "GLOBAL",
                                               "REGIONAL",
                                               "BY",
                                               "ROW",
                                               "AS",
                                               "IN",
                                               "PRIMARY",
                                               "REGION",
                                               "ADD",
                                               "DROP",
                                               "IF",
                                               "NOT",
                                               "EXISTS",
                                               "CONNECTION",
                                               "SHOW",
                                               "REGIONS",
                                               "SURVIVE",
                                               "SUPER",
                                               "t",
                                               "\"T\"",
                                               "\"a\"\"b\"",
                                               "\"\"",
                                               "\"open",
                                               "'str'",
                                               "'it''s'",
                                               "'open",
                                               "e'\\n\\t\\\\'",
                                               "E'\\'",
                                               "e'\\u1'",
                                               ".",
                                               ";",
                                               ",",
                                               "=",
                                               "-",
                                               "(",
                                               ")",
                                               "1",
                                               "1.5e3",
                                               "--c\n",
                                               "/* c */",
                                               "/* open",
                                               "/* /* */",
                                               "us-east1",
                                               "\"us-east1\"",
                                               "\xC3\xA9",
                                               "\xFF",
                                               std::string(64, 'x'),
                                               "\"" + std::string(64, 'X') + "\"",
                                               "'" + std::string(3000, 'c') + "'"};
  std::mt19937 rng(42);
  auto tokens_of = [](const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == ' ') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  };
  int ok = 0;
  for (int i = 0; i < 6000; ++i) {
    std::vector<std::string> tokens;
    if (i % 3 == 0) {
      for (int n = rng() % 12; n > 0; --n) tokens.push_back(vocabulary[rng() % vocabulary.size()]);
    } else {
      tokens = tokens_of(seeds[rng() % seeds.size()]);
      for (int m = 1 + rng() % 2; m > 0; --m) {
        std::size_t at = tokens.empty() ? 0 : rng() % tokens.size();
        switch (rng() % 3) {
          case 0:
            if (!tokens.empty()) tokens.erase(tokens.begin() + at);
            break;
          case 1:
            tokens.insert(tokens.begin() + at, vocabulary[rng() % vocabulary.size()]);
            break;
          default:
            if (!tokens.empty()) tokens[at] = vocabulary[rng() % vocabulary.size()];
        }
      }
    }
    std::string sql;
    for (const std::string& token : tokens) sql += token + (rng() % 5 ? " " : "");

    Parsed p = parse(sql);
    if (p.rc == 1) {
      ++ok;
      EXPECT_GE(p.stmt.kind, LOCALITY_DDL_SET_LOCALITY) << sql;
      EXPECT_LE(p.stmt.kind, LOCALITY_DDL_DROP_REGION) << sql;
      for (const char* field : {p.stmt.schema_name, p.stmt.table_name, p.stmt.database_name,
                                p.stmt.region, p.stmt.locality.region, p.stmt.locality.column})
        EXPECT_LT(std::strlen(field), std::size_t(LOCALITY_IDENT_MAX + 1)) << sql;
      continue;
    }
    std::string state = p.status.sqlstate;
    EXPECT_TRUE(state == "42601" || state == "22023" || state == "0A000" || state == "42622")
        << sql << " -> " << state << " " << p.status.message;
    EXPECT_GE(p.status.position, 1) << sql;
    EXPECT_LE(p.status.position, static_cast<int>(sql.size()) + 1) << sql;
  }
  EXPECT_GT(ok, 20);
}

TEST(CrdbDdl, RandomBytesNeverCrashEitherParser) {
  std::mt19937 rng(99);
  const std::string bytes = "aZ_$09 \t\n\"'\\eE.;,-=/*()\x80\xC3\xA9\xFF";
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    for (int n = rng() % 40; n > 0; --n) text.push_back(bytes[rng() % bytes.size()]);
    Parsed p = parse(text);
    if (p.rc == 0) {
      EXPECT_EQ(std::strlen(p.status.sqlstate), 5u) << text;
    }
    LocalitySpec spec;
    LocalityStatus status;
    if (locality_spec_parse(text.c_str(), &spec, &status) == 0) {
      std::string state = status.sqlstate;
      EXPECT_TRUE(state == "22023" || state == "42622") << text << " -> " << state;
    }
  }
}

}  // namespace
