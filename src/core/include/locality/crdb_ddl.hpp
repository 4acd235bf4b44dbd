// crdb_ddl.hpp -- the CockroachDB multi-region DDL locality.execute() runs
// (SPEC.md section 3), parsed into a plain statement the shim acts on.
#pragma once

#include <string>
#include <string_view>

#include "locality/locality_spec.hpp"
#include "locality_core.h"

namespace locality {

// Longest conninfo ADD REGION ... CONNECTION takes (the C API's buffer).
inline constexpr std::size_t kConninfoMax = LOCALITY_CONNINFO_MAX - 1;

// The hint of an `unsupported statement` error.
inline constexpr const char* kSupportedDdlForms =
    "locality.execute() supports: ALTER TABLE <table> SET LOCALITY <locality>; "
    "ALTER DATABASE <db> [SET] PRIMARY REGION <region>; "
    "ALTER DATABASE <db> ADD REGION [IF NOT EXISTS] <region> CONNECTION '<conninfo>'; "
    "ALTER DATABASE <db> DROP REGION [IF EXISTS] <region>.";

struct CrdbDdlStatement {
  enum class Kind {
    kSetLocality = LOCALITY_DDL_SET_LOCALITY,
    kSetPrimaryRegion = LOCALITY_DDL_SET_PRIMARY_REGION,
    kAddRegion = LOCALITY_DDL_ADD_REGION,
    kDropRegion = LOCALITY_DDL_DROP_REGION,
  };
  Kind kind = Kind::kSetLocality;
  std::string schema_name;    // SET LOCALITY: empty when the table name is unqualified
  std::string table_name;     // SET LOCALITY
  std::string database_name;  // ALTER DATABASE's; SET LOCALITY: catalog of db.schema.table
  std::string region;         // PRIMARY / ADD / DROP REGION
  bool missing_ok = false;    // ALTER TABLE IF EXISTS, ADD REGION IF NOT EXISTS,
                              // DROP REGION IF EXISTS
  TableLocality locality;     // SET LOCALITY
  std::string conninfo;       // ADD REGION ... CONNECTION
};

// Parses one statement, with an optional trailing semicolon:
//   ALTER TABLE [IF EXISTS] [[db.]schema.]table SET LOCALITY <locality>
//   ALTER DATABASE db [SET] PRIMARY REGION [=] region
//   ALTER DATABASE db ADD REGION [IF NOT EXISTS] region CONNECTION 'conninfo'
//   ALTER DATABASE db DROP REGION [IF EXISTS] region
// Errors: 42601 syntax errors (with position and what was expected), 42622
// identifiers over 63 bytes, 22023 invalid region names or an over-long
// conninfo, 0A000 for any other statement (SHOW REGIONS included).
CrdbDdlStatement parse_crdb_ddl(std::string_view sql);

}  // namespace locality
