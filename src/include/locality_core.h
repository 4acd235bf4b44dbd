/*
 * locality_core.h -- the one C API between the C shim and the C++ core.
 *
 * Only plain structs, buffers, integers and status codes cross this line
 * (ARCHITECTURE.md, "Layers and the C++/C boundary").  Every function is
 * noexcept on the C++ side, catches everything, and reports failure through
 * a LocalityStatus the shim turns into ereport() after the call returns, so
 * no PostgreSQL longjmp ever crosses a C++ frame and no C++ exception ever
 * reaches C.
 */
#ifndef LOCALITY_CORE_H
#define LOCALITY_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define LOCALITY_NOEXCEPT noexcept
extern "C" {
#else
#define LOCALITY_NOEXCEPT
#endif

/* Sizes of the plain text fields a status carries. */
#define LOCALITY_SQLSTATE_LEN 6     /* five characters and a NUL */
#define LOCALITY_MESSAGE_LEN 512

/*
 * LocalityStatus: result of every core call that can fail.
 *
 * ok is 1 on success.  On failure sqlstate holds the five-character
 * SQLSTATE ("22023"), and message/detail/hint the texts of the error, each
 * NUL-terminated and possibly empty; position, when non-zero, points into
 * the text a parser was given (the shim reports it as an internal query
 * position, so psql draws the caret under the offending token).  The shim raises it with
 * LocalityRaiseStatus() (src/shim/core_status.c).
 */
typedef struct LocalityStatus
{
	int			ok;
	char		sqlstate[LOCALITY_SQLSTATE_LEN];
	char		message[LOCALITY_MESSAGE_LEN];
	char		detail[LOCALITY_MESSAGE_LEN];
	char		hint[LOCALITY_MESSAGE_LEN];
	int			position;		/* 1-based character offset into the parsed
								 * text the error points at, 0 for none */
} LocalityStatus;

/* Longest region name (SPEC.md section 2); fits a NAMEDATALEN identifier. */
#define LOCALITY_REGION_NAME_MAX 63

/*
 * locality_region_name_validate: checks the region-name rule of SPEC.md
 * section 2 (1-63 characters of [a-z0-9-], starting with a letter).
 * Returns 1 when valid; otherwise 0 with status filled with 22023
 * `invalid region name "X"` and the rule as detail.  name may be NULL,
 * which counts as empty.
 */
int			locality_region_name_validate(const char *name,
										  LocalityStatus *status) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Table localities and CockroachDB DDL (SPEC.md section 3)
 * ----------------------------------------------------------------
 */

typedef enum LocalityKind
{
	LOCALITY_GLOBAL = 1,
	LOCALITY_REGIONAL_BY_TABLE = 2,
	LOCALITY_REGIONAL_BY_ROW = 3
} LocalityKind;

/* Longest identifier in bytes, as NAMEDATALEN - 1. */
#define LOCALITY_IDENT_MAX 63

/*
 * LocalitySpec: one table locality.  REGIONAL BY TABLE has either
 * in_primary_region = 1 and region "" or in_primary_region = 0 and a region;
 * column is set for REGIONAL BY ROW only.
 */
typedef struct LocalitySpec
{
	int			kind;			/* LocalityKind */
	int			in_primary_region;	/* REGIONAL BY TABLE following the
									 * primary region */
	char		region[LOCALITY_REGION_NAME_MAX + 1];	/* REGIONAL BY TABLE IN
														 * region, else "" */
	char		column[LOCALITY_IDENT_MAX + 1];	/* REGIONAL BY ROW column,
												 * "region" by default */
} LocalitySpec;

/*
 * locality_spec_parse: parses a locality text (GLOBAL, REGIONAL BY TABLE
 * [IN PRIMARY REGION | IN <region>], REGIONAL BY ROW [AS <column>], and
 * CockroachDB's REGIONAL [IN <region>]), case-insensitive.  out is zeroed
 * first and filled on success.  Errors: 22023 `invalid locality "..."` with
 * the accepted forms as hint and the offending token's position, 22023
 * `invalid region name`, 42622 for a column name over 63 bytes.  text may be
 * NULL, which counts as empty.
 */
int			locality_spec_parse(const char *text, LocalitySpec *out,
								LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_spec_format: writes the canonical upper-case text of spec into
 * buf, NUL-terminated: GLOBAL, REGIONAL BY TABLE IN PRIMARY REGION,
 * REGIONAL BY TABLE IN "eu-west1", REGIONAL BY ROW (column "region" or ""),
 * REGIONAL BY ROW AS "col".  When it does not fit in size bytes: 0 with
 * 54000 and buf "".  An inconsistent spec is 22023.
 */
int			locality_spec_format(const LocalitySpec *spec, char *buf, size_t size,
								 LocalityStatus *status) LOCALITY_NOEXCEPT;

typedef enum LocalityDdlKind
{
	LOCALITY_DDL_SET_LOCALITY = 1,
	LOCALITY_DDL_SET_PRIMARY_REGION,
	LOCALITY_DDL_ADD_REGION,
	LOCALITY_DDL_DROP_REGION
} LocalityDdlKind;

/* Conninfo buffer, NUL included. */
#define LOCALITY_CONNINFO_MAX 2048

/*
 * LocalityDdlStatement: one statement for locality.execute().  Names are
 * folded to lower case unless they were double-quoted.
 */
typedef struct LocalityDdlStatement
{
	int			kind;			/* LocalityDdlKind */
	char		schema_name[LOCALITY_IDENT_MAX + 1];	/* "" when the table name
														 * was unqualified */
	char		table_name[LOCALITY_IDENT_MAX + 1];
	char		database_name[LOCALITY_IDENT_MAX + 1];	/* ALTER DATABASE's, or
														 * the catalog of a
														 * db.schema.table name */
	char		region[LOCALITY_REGION_NAME_MAX + 1];
	int			missing_ok;		/* DROP REGION IF EXISTS / ADD REGION IF NOT
								 * EXISTS / ALTER TABLE IF EXISTS */
	LocalitySpec locality;		/* SET LOCALITY */
	char		conninfo[LOCALITY_CONNINFO_MAX];	/* ADD REGION ... CONNECTION */
} LocalityDdlStatement;

/*
 * locality_ddl_parse: parses one CockroachDB multi-region statement (one
 * optional trailing semicolon):
 *	 ALTER TABLE [IF EXISTS] [[db.]schema.]table SET LOCALITY <locality>
 *	 ALTER DATABASE d [SET] PRIMARY REGION r
 *	 ALTER DATABASE d ADD REGION [IF NOT EXISTS] r CONNECTION 'conninfo'
 *	 ALTER DATABASE d DROP REGION [IF EXISTS] r
 * out is zeroed first and stays zeroed on failure.  Errors: 42601 syntax
 * errors with position and an "Expected ..." hint, 42622 identifiers over
 * 63 bytes, 22023 invalid region names and conninfos over
 * LOCALITY_CONNINFO_MAX - 1 bytes (never truncated), 0A000 any other
 * statement (SHOW REGIONS included) and \u escapes in e'' strings, 22021 a
 * NUL escape.  Positions count UTF-8 characters.  sql may be NULL, which
 * counts as empty.
 */
int			locality_ddl_parse(const char *sql, LocalityDdlStatement *out,
							   LocalityStatus *status) LOCALITY_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif							/* LOCALITY_CORE_H */
