// locality_spec.hpp -- a table's locality (SPEC.md section 3): parsing the
// text users write and printing the canonical form locality.tables shows.
#pragma once

#include <string>
#include <string_view>

#include "locality_core.h"

namespace locality {

class TokenReader;

// The hint of every `invalid locality` error.
inline constexpr const char* kAcceptedLocalityForms =
    "Accepted forms: GLOBAL, REGIONAL BY TABLE [IN PRIMARY REGION | IN <region>], "
    "REGIONAL BY ROW [AS <column>].";

// Region column of REGIONAL BY ROW when no AS <column> is given.
inline constexpr const char* kDefaultRegionColumn = "region";

struct TableLocality {
  enum class Kind {
    kGlobal = LOCALITY_GLOBAL,
    kRegionalByTable = LOCALITY_REGIONAL_BY_TABLE,
    kRegionalByRow = LOCALITY_REGIONAL_BY_ROW,
  };
  Kind kind = Kind::kGlobal;
  std::string region;  // REGIONAL BY TABLE IN region; empty for the primary region
  std::string column;  // REGIONAL BY ROW's region column; empty for other kinds

  bool in_primary_region() const noexcept {
    return kind == Kind::kRegionalByTable && region.empty();
  }
  friend bool operator==(const TableLocality& a, const TableLocality& b) noexcept {
    return a.kind == b.kind && a.region == b.region && a.column == b.column;
  }
  friend bool operator!=(const TableLocality& a, const TableLocality& b) noexcept {
    return !(a == b);
  }
};

// Parses a locality text (case-insensitive, any whitespace).  Also takes
// CockroachDB's `REGIONAL [IN <region>]` aliases.  Throws 22023
// `invalid locality "text"` (with the accepted forms and the position of the
// offending token), 22023 `invalid region name`, or 42622 for a column name
// over 63 bytes.
TableLocality parse_locality(std::string_view text);

// The locality grammar on tokens, shared with the DDL parser (crdb_ddl.cpp):
// consumes one locality and leaves the reader at what follows it, which must
// be the end (TokenReader::at_end()).
TableLocality parse_locality(TokenReader& in);

// A region name token: quoted verbatim, or a bare word folded to lower case;
// then the region-name rule (22023 `invalid region name`, at the token).
std::string parse_region_name(TokenReader& in);

// Canonical upper-case text: `GLOBAL`, `REGIONAL BY TABLE IN PRIMARY REGION`,
// `REGIONAL BY TABLE IN "eu-west1"`, `REGIONAL BY ROW`,
// `REGIONAL BY ROW AS "col"`.  parse_locality() reads it back to an equal
// value.
std::string format_locality(const TableLocality& locality);

// Fills the C API's struct (which the caller has zeroed) from locality.
void to_c_spec(const TableLocality& locality, LocalitySpec* out);

}  // namespace locality
