// locality_spec.cpp -- the locality grammar of SPEC.md section 3, for
// locality.set_locality, `WITH (locality = ...)` and, on SQL tokens,
// `ALTER TABLE ... SET LOCALITY` in locality.execute(); and the canonical text
// locality.tables prints.
#include "locality/locality_spec.hpp"

#include <cstring>

#include "locality/region_name.hpp"
#include "locality/sql_lexer.hpp"
#include "locality/status.hpp"

namespace locality {
namespace {

// Fails unless the locality ends here; expected names what could have
// continued it.
void expect_end(TokenReader& in, const std::string& expected) {
  if (!in.at_end()) in.fail(in.peek(), expected);
}

}  // namespace

std::string parse_region_name(TokenReader& in) {
  const Token& token = in.peek();
  if (token.kind != Token::Kind::kQuotedIdent && token.kind != Token::Kind::kWord)
    in.fail(token, "a region name");
  std::string name = token.kind == Token::Kind::kWord ? fold_identifier(token.value) : token.value;
  if (!is_valid_region_name(name)) {
    try {
      validate_region_name(name);
    } catch (Error& e) {
      e.at(in.position(token));
      throw;
    }
  }
  in.next();
  // In SQL `us-east1` is three tokens; say how to write it.
  const Token& after = in.peek();
  if (in.dialect() == Dialect::kCockroachSql && token.kind == Token::Kind::kWord &&
      in.at_symbol('-') && after.offset == token.offset + token.length)
    in.fail(after, "the end of the region name",
            "Region names that contain \"-\" must be double-quoted, as in \"us-east1\".");
  return name;
}

TableLocality parse_locality(TokenReader& in) {
  TableLocality locality;
  std::string end = in.end_phrase();
  if (in.accept_keyword("GLOBAL")) {
    locality.kind = TableLocality::Kind::kGlobal;
    expect_end(in, end);
    return locality;
  }
  if (!in.accept_keyword("REGIONAL")) in.fail(in.peek(), "GLOBAL or REGIONAL");

  bool by_table = false;
  if (in.accept_keyword("BY")) {
    if (in.accept_keyword("ROW")) {
      locality.kind = TableLocality::Kind::kRegionalByRow;
      locality.column = kDefaultRegionColumn;
      if (in.accept_keyword("AS")) {
        locality.column = in.identifier("a column name");
        expect_end(in, end);
      } else {
        expect_end(in, "AS or " + end);
      }
      return locality;
    }
    in.expect_keyword("TABLE", "TABLE or ROW");
    by_table = true;
  }

  // REGIONAL [BY TABLE] [IN PRIMARY REGION | IN <region>]
  locality.kind = TableLocality::Kind::kRegionalByTable;
  if (in.accept_keyword("IN")) {
    if (in.accept_keyword("PRIMARY")) {
      in.expect_keyword("REGION", "REGION");
    } else {
      locality.region = parse_region_name(in);
    }
    expect_end(in, end);
  } else {
    expect_end(in, (by_table ? "IN or " : "BY TABLE, BY ROW, IN or ") + end);
  }
  return locality;
}

TableLocality parse_locality(std::string_view text) {
  TokenReader in(text, Dialect::kLocalityText);
  return parse_locality(in);
}

std::string format_locality(const TableLocality& locality) {
  switch (locality.kind) {
    case TableLocality::Kind::kGlobal:
      return "GLOBAL";
    case TableLocality::Kind::kRegionalByTable:
      if (locality.region.empty()) return "REGIONAL BY TABLE IN PRIMARY REGION";
      return "REGIONAL BY TABLE IN " + quote_identifier(locality.region);
    case TableLocality::Kind::kRegionalByRow:
      if (locality.column.empty() || locality.column == kDefaultRegionColumn)
        return "REGIONAL BY ROW";
      return "REGIONAL BY ROW AS " + quote_identifier(locality.column);
  }
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid locality kind " + std::to_string(static_cast<int>(locality.kind)));
}

void to_c_spec(const TableLocality& locality, LocalitySpec* out) {
  static_assert(sizeof out->region > LOCALITY_REGION_NAME_MAX, "region buffer");
  static_assert(sizeof out->column > kIdentifierMax, "column buffer");
  // The parser's limits make these fit; check rather than truncate.
  if (locality.region.size() >= sizeof out->region || locality.column.size() >= sizeof out->column)
    throw Error(sqlstate::kInternalError, "locality does not fit its C struct");
  out->kind = static_cast<int>(locality.kind);
  out->in_primary_region = locality.in_primary_region() ? 1 : 0;
  std::memcpy(out->region, locality.region.c_str(), locality.region.size() + 1);
  std::memcpy(out->column, locality.column.c_str(), locality.column.size() + 1);
}

namespace {

// A C string field of at most size bytes, which need not hold a NUL.
std::string c_field(const char* field, std::size_t size) {
  const void* nul = std::memchr(field, '\0', size);
  std::size_t n = nul ? static_cast<const char*>(nul) - field : size;
  if (n == size) throw Error(sqlstate::kInvalidParameterValue, "locality field is not terminated");
  return std::string(field, n);
}

// Reads the C struct back, checking it describes a locality.
TableLocality from_c_spec(const LocalitySpec& spec) {
  TableLocality locality;
  switch (spec.kind) {
    case LOCALITY_GLOBAL:
      locality.kind = TableLocality::Kind::kGlobal;
      break;
    case LOCALITY_REGIONAL_BY_TABLE:
      locality.kind = TableLocality::Kind::kRegionalByTable;
      locality.region = c_field(spec.region, sizeof spec.region);
      if (spec.in_primary_region) {
        if (!locality.region.empty())
          throw Error(sqlstate::kInvalidParameterValue,
                      "a locality in the primary region cannot also name region \"" +
                          locality.region + "\"");
      } else {
        validate_region_name(locality.region);
      }
      break;
    case LOCALITY_REGIONAL_BY_ROW:
      locality.kind = TableLocality::Kind::kRegionalByRow;
      locality.column = c_field(spec.column, sizeof spec.column);
      if (locality.column.empty()) locality.column = kDefaultRegionColumn;
      break;
    default:
      throw Error(sqlstate::kInvalidParameterValue,
                  "invalid locality kind " + std::to_string(spec.kind));
  }
  return locality;
}

}  // namespace
}  // namespace locality

extern "C" int locality_spec_parse(const char* text, LocalitySpec* out,
                                   LocalityStatus* status) noexcept {
  if (out != nullptr) std::memset(out, 0, sizeof *out);
  return locality::call_guarded(status, [&] {
    locality::TableLocality locality =
        locality::parse_locality(text == nullptr ? std::string_view() : std::string_view(text));
    if (out != nullptr) locality::to_c_spec(locality, out);
  });
}

extern "C" int locality_spec_format(const LocalitySpec* spec, char* buf, size_t size,
                                    LocalityStatus* status) noexcept {
  if (buf != nullptr && size > 0) buf[0] = '\0';
  return locality::call_guarded(status, [&] {
    using locality::Error;
    if (spec == nullptr)
      throw Error(locality::sqlstate::kInvalidParameterValue, "no locality to format");
    std::string text = locality::format_locality(locality::from_c_spec(*spec));
    if (buf == nullptr || text.size() >= size)
      throw Error(locality::sqlstate::kProgramLimitExceeded,
                  "locality text does not fit in " + std::to_string(size) + " bytes",
                  "It needs " + std::to_string(text.size() + 1) + " bytes.");
    std::memcpy(buf, text.c_str(), text.size() + 1);
  });
}
