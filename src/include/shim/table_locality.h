/*
 * table_locality.h -- table localities (SPEC.md section 3): the one code path
 * behind locality.set_locality(), ALTER TABLE ... SET (locality = ...),
 * CREATE TABLE ... WITH (locality = ...) and locality.execute()
 * (src/shim/table_locality.c), and the internal DDL it runs
 * (src/shim/ddl.c).
 */
#ifndef LOCALITY_SHIM_TABLE_LOCALITY_H
#define LOCALITY_SHIM_TABLE_LOCALITY_H

#include "postgres.h"

#include "locality_core.h"

/* Column REGIONAL BY ROW adds when the table has none of that name. */
#define LOCALITY_DEFAULT_REGION_COLUMN "region"

/*
 * LocalityParseLocality: parses a locality text into spec, raising 22023
 * `invalid locality "..."` with the accepted forms (and a position into
 * text) when it is not one.
 */
extern void LocalityParseLocality(const char *text, LocalitySpec *spec);

/*
 * LocalityChangeTableLocality: gives table relid the locality spec on this
 * server (checks, region column, sequences, catalog row), without
 * propagating.  Returns the sequence floor other regions must respect: one
 * above every value the table's sequences handed out here before they
 * joined this region's residue class, or 0 when no sequence had to join.
 */
extern int64 LocalityChangeTableLocality(Oid relid, const LocalitySpec *spec);

/*
 * LocalityTableDefinitionIfMissing: SQL that creates relid as it is now on
 * a region that lacks it, or NULL when every region has it (it is managed
 * already) or there is no other region.  Call before changing the table.
 */
extern char *LocalityTableDefinitionIfMissing(Oid relid);

/*
 * LocalityPropagateLocalityChange: sends a locality change of relid to
 * every other region: definition when not NULL, the context of the change
 * (this region, for rows that had no home, and sequence_floor), then
 * statement, or when statement is NULL the canonical
 * SELECT locality.set_locality(...) call.
 */
extern void LocalityPropagateLocalityChange(Oid relid, const LocalitySpec *spec,
											int64 sequence_floor, const char *statement,
											const char *definition);

/*
 * LocalityAlignTableSequences: moves every sequence owned by a column of
 * relid that is not yet in this region's residue class into it, above
 * floor and above every value already handed out or stored in the column.
 * Returns the floor other regions must respect (0 when none moved).
 */
extern int64 LocalityAlignTableSequences(Oid relid, int64 floor);

/* The canonical text of spec (palloc'd), e.g. REGIONAL BY TABLE IN "eu-west1". */
extern char *LocalityFormatLocality(const LocalitySpec *spec);

/* The schema-qualified, quoted name of relid (palloc'd). */
extern char *LocalityQualifiedTableName(Oid relid);

/* ddl.c: runs sql through SPI without propagating it (caller is connected). */
extern void LocalityRunInternalDdl(const char *sql);

/* ddl.c: true while pg_locality itself runs DDL (hooks stay out of the way). */
extern bool LocalityInInternalDdl(void);

/* ddl.c: sends sql to every other region (not when this session applies
 * another region's work); logs it at DEBUG1. */
extern void LocalityPropagateStatement(const char *sql);

/* ddl.c: installs the ProcessUtility and object-access hooks. */
extern void LocalityInitDdl(void);

#endif							/* LOCALITY_SHIM_TABLE_LOCALITY_H */
