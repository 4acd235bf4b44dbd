// crdb_ddl.cpp -- recursive-descent parser for the CockroachDB multi-region
// DDL of locality.execute() (SPEC.md section 3).  The shim checks names
// against the catalog and runs the statement; this file only reads it.
#include "locality/crdb_ddl.hpp"

#include <cstring>

#include "locality/sql_lexer.hpp"
#include "locality/status.hpp"

namespace locality {
namespace {

constexpr const char* kAlterDatabaseForms =
    "one of: PRIMARY REGION, SET PRIMARY REGION, ADD REGION, DROP REGION";

[[noreturn]] void unsupported(const TokenReader& in, const Token& at, const std::string& what) {
  throw Error(sqlstate::kFeatureNotSupported, what, {}, kSupportedDdlForms).at(in.position(at));
}

// [[db.]schema.]table
void parse_table_name(TokenReader& in, CrdbDdlStatement& stmt) {
  std::string parts[3];
  int n = 0;
  parts[n++] = in.identifier("a table name");
  while (n < 3 && in.accept_symbol('.')) parts[n++] = in.identifier("a name after \".\"");
  if (n == 3 && in.at_symbol('.'))
    in.fail(in.peek(), "SET LOCALITY", "A table name has at most three parts.");
  stmt.table_name = parts[n - 1];
  if (n >= 2) stmt.schema_name = parts[n - 2];
  if (n == 3) stmt.database_name = parts[0];
}

// ALTER TABLE [IF EXISTS] name SET LOCALITY <locality>
void parse_alter_table(TokenReader& in, CrdbDdlStatement& stmt) {
  stmt.kind = CrdbDdlStatement::Kind::kSetLocality;
  if (in.at_keyword("IF") && in.at_keyword("EXISTS", 1)) {
    in.next();
    in.next();
    stmt.missing_ok = true;
  }
  parse_table_name(in, stmt);
  in.expect_keyword("SET", "SET LOCALITY");
  in.expect_keyword("LOCALITY", "LOCALITY");
  stmt.locality = parse_locality(in);
}

// PRIMARY REGION [=] region, after ALTER DATABASE db [SET]
void parse_primary_region(TokenReader& in, CrdbDdlStatement& stmt) {
  stmt.kind = CrdbDdlStatement::Kind::kSetPrimaryRegion;
  in.expect_keyword("REGION", "REGION");
  in.accept_symbol('=');
  stmt.region = parse_region_name(in);
}

// Other multi-region ALTER DATABASE forms of CockroachDB: valid there, not
// here, so 0A000 rather than a syntax error.
void refuse_other_crdb_forms(const TokenReader& in) {
  const Token& at = in.peek();
  std::string words;
  if (in.at_keyword("SURVIVE") || in.at_keyword("PLACEMENT")) {
    words = at.value;
  } else if ((in.at_keyword("ADD") || in.at_keyword("DROP") || in.at_keyword("ALTER") ||
              in.at_keyword("SET")) &&
             (in.at_keyword("SUPER", 1) || in.at_keyword("SECONDARY", 1))) {
    words = at.value + " " + in.peek(1).value;
  } else {
    return;
  }
  for (char& c : words) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  unsupported(in, at, "ALTER DATABASE ... " + words + " is not supported by locality.execute()");
}

// ALTER DATABASE db { [SET] PRIMARY REGION | ADD REGION | DROP REGION } ...
void parse_alter_database(TokenReader& in, CrdbDdlStatement& stmt) {
  stmt.database_name = in.identifier("a database name");
  if (in.accept_keyword("PRIMARY")) {
    parse_primary_region(in, stmt);
  } else if (in.at_keyword("SET") && in.at_keyword("PRIMARY", 1)) {
    in.next();
    in.next();
    parse_primary_region(in, stmt);
  } else if (in.at_keyword("ADD") && in.at_keyword("REGION", 1)) {
    in.next();
    in.next();
    stmt.kind = CrdbDdlStatement::Kind::kAddRegion;
    if (in.at_keyword("IF") && in.at_keyword("NOT", 1)) {
      in.next();
      in.next();
      in.expect_keyword("EXISTS", "EXISTS");
      stmt.missing_ok = true;
    }
    stmt.region = parse_region_name(in);
    in.expect_keyword("CONNECTION", "CONNECTION '<conninfo>'");
    const Token& conninfo = in.peek();
    if (conninfo.kind != Token::Kind::kString)
      in.fail(conninfo, "a string literal holding the region's conninfo");
    if (conninfo.value.size() > kConninfoMax)
      throw Error(sqlstate::kInvalidParameterValue, "conninfo is too long",
                  "A conninfo is at most " + std::to_string(kConninfoMax) +
                      " bytes; this one has " + std::to_string(conninfo.value.size()) + ".")
          .at(in.position(conninfo));
    stmt.conninfo = conninfo.value;
    in.next();
  } else if (in.at_keyword("DROP") && in.at_keyword("REGION", 1)) {
    in.next();
    in.next();
    stmt.kind = CrdbDdlStatement::Kind::kDropRegion;
    if (in.at_keyword("IF") && in.at_keyword("EXISTS", 1)) {
      in.next();
      in.next();
      stmt.missing_ok = true;
    }
    stmt.region = parse_region_name(in);
  } else {
    refuse_other_crdb_forms(in);
    in.fail(in.peek(), kAlterDatabaseForms);
  }
}

// One optional semicolon, then nothing.
void expect_statement_end(TokenReader& in) {
  if (!in.at_end()) in.fail(in.peek(), in.end_phrase());
  if (in.accept_symbol(';') && in.peek().kind != Token::Kind::kEnd)
    in.fail(in.peek(), in.end_phrase(), "locality.execute() runs one statement at a time.");
}

// Copies text into a fixed C field, refusing what does not fit.
void copy_field(char* out, std::size_t size, const std::string& text, const char* what) {
  if (text.size() >= size)
    throw Error(sqlstate::kInvalidParameterValue, std::string(what) + " is too long");
  std::memcpy(out, text.c_str(), text.size() + 1);
}

}  // namespace

CrdbDdlStatement parse_crdb_ddl(std::string_view sql) {
  TokenReader in(sql, Dialect::kCockroachSql);
  CrdbDdlStatement stmt;
  const Token& first = in.peek();
  if (in.at_keyword("SHOW") && in.at_keyword("REGIONS", 1)) {
    throw Error(sqlstate::kFeatureNotSupported,
                "SHOW REGIONS is not supported by locality.execute()", {},
                "Query the view locality.regions.")
        .at(in.position(first));
  }
  if (in.at_keyword("ALTER") && in.at_keyword("TABLE", 1)) {
    in.next();
    in.next();
    parse_alter_table(in, stmt);
  } else if (in.at_keyword("ALTER") && in.at_keyword("DATABASE", 1)) {
    in.next();
    in.next();
    parse_alter_database(in, stmt);
  } else if (first.kind == Token::Kind::kEnd || first.kind == Token::Kind::kError ||
             in.at_symbol(';')) {
    in.fail(first, "a statement", kSupportedDdlForms);
  } else {
    unsupported(in, first, "unsupported statement");
  }
  expect_statement_end(in);
  return stmt;
}

}  // namespace locality

extern "C" int locality_ddl_parse(const char* sql, LocalityDdlStatement* out,
                                  LocalityStatus* status) noexcept {
  if (out != nullptr) std::memset(out, 0, sizeof *out);
  return locality::call_guarded(status, [&] {
    locality::CrdbDdlStatement stmt =
        locality::parse_crdb_ddl(sql == nullptr ? std::string_view() : std::string_view(sql));
    if (out == nullptr) return;
    try {
      out->kind = static_cast<int>(stmt.kind);
      locality::copy_field(out->schema_name, sizeof out->schema_name, stmt.schema_name,
                           "schema name");
      locality::copy_field(out->table_name, sizeof out->table_name, stmt.table_name, "table name");
      locality::copy_field(out->database_name, sizeof out->database_name, stmt.database_name,
                           "database name");
      locality::copy_field(out->region, sizeof out->region, stmt.region, "region name");
      out->missing_ok = stmt.missing_ok ? 1 : 0;
      if (stmt.kind == locality::CrdbDdlStatement::Kind::kSetLocality)
        locality::to_c_spec(stmt.locality, &out->locality);
      locality::copy_field(out->conninfo, sizeof out->conninfo, stmt.conninfo, "conninfo");
    } catch (...) {
      // A failed call leaves no half-filled statement behind.
      std::memset(out, 0, sizeof *out);
      throw;
    }
  });
}
