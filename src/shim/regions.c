/*
 * regions.c -- region management: locality.add_region, drop_region,
 * set_primary_region, and the internal catalog functions other regions call
 * to apply the same change (SPEC.md section 2).
 *
 * Every change runs locally and, through dist_xact.c, on every other region
 * in one distributed transaction: all regions change or none.  add_region
 * also brings the new region's catalog and managed-table definitions up to
 * date inside that transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/global_triggers.h"
#include "shim/remote.h"
#include "shim/replication.h"
#include "shim/safety_net.h"
#include "shim/stamps.h"

/* Raises 25001 when called inside a transaction block (like CREATE DATABASE). */
static void
RefuseTransactionBlock(const char *what)
{
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", what)));
}

/* Raises 22023 unless name follows the region-name rule. */
static void
ValidateRegionName(const char *name)
{
	LocalityStatus status;

	LocalityInitStatus(&status);
	locality_region_name_validate(name, &status);
	LocalityRaiseStatus(&status, NULL);
}

/*
 * CheckConninfo refuses a conninfo libpq cannot parse (22023) and, for
 * non-superusers, one that carries a password (42501): secrets belong in
 * a passfile, certificates or user mappings, not in the catalog.
 */
static void
CheckConninfo(const char *conninfo)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	PQconninfoOption *o;

	if (opts == NULL)
	{
		char	   *msg = pstrdup(err ? err : "out of memory");

		if (err)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid conninfo"),
				 errdetail_internal("%s", msg)));
	}
	for (o = opts; o->keyword != NULL; o++)
	{
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0' &&
			!superuser())
		{
			PQconninfoFree(opts);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers may store a password in a region's conninfo"),
					 errhint("Keep passwords in a passfile (PGPASSFILE) or use certificates.")));
		}
	}
	PQconninfoFree(opts);
}

/* Runs sql on conn and returns the single value of its single row. */
static char *
RemoteValue(PGconn *conn, const char *sql, const char *label)
{
	PGresult   *res = LocalityRemoteExec(conn, sql, label);
	char	   *value = NULL;

	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		value = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return value;
}

/*
 * CheckRegionIdentity connects to conninfo and checks that the server there
 * reports region name in locality.region (22023 otherwise).  For this
 * server's own region it also checks the server is this very server.
 */
static void
CheckRegionIdentity(const char *name, const char *conninfo, bool own)
{
	PGconn	   *conn = LocalityConnectTo(conninfo, name);
	char	   *reported = NULL;
	char	   *sysid = NULL;

	PG_TRY();
	{
		reported = RemoteValue(conn,
							   "SELECT pg_catalog.current_setting('locality.region', true)",
							   name);
		if (own)
			sysid = RemoteValue(conn,
								"SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
								name);
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();

	if (reported == NULL || strcmp(reported, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the server at conninfo of region \"%s\" is in region \"%s\"",
						name, reported && reported[0] ? reported : "(none)"),
				 errhint("Check the conninfo, and locality.region in that server's postgresql.conf.")));
	if (own)
	{
		char		local_sysid[32];

		snprintf(local_sysid, sizeof(local_sysid), UINT64_FORMAT, GetSystemIdentifier());
		if (sysid == NULL || strcmp(sysid, local_sysid) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("conninfo of region \"%s\" does not reach this server", name),
					 errhint("The first region added on a server is its own; give a conninfo "
							 "that reaches this server from the other regions.")));
	}
}

/* The next free region id (never reused while the region exists). */
static LocalityRegionId
NextRegionId(void)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	int			max = 0;
	int			i;

	for (i = 0; i < count; i++)
		max = Max(max, regions[i].id);
	if (max >= PG_INT16_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many regions")));
	return (LocalityRegionId) (max + 1);
}

/* --- Local catalog changes (the same on every region) --- */

static void
CatalogInsertRegion(LocalityRegionId id, const char *name, const char *conninfo,
					bool is_primary)
{
	Oid			argtypes[4] = {INT2OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];

	values[0] = Int16GetDatum(id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(conninfo);
	values[3] = BoolGetDatum(is_primary);
	SPI_connect();
	LocalityCatalogExecute("INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) "
						   "VALUES ($1, $2, $3, $4)", 4, argtypes, values, NULL);
	SPI_finish();
	LocalityInvalidateCatalogCache();
	LocalityWakeLauncherAtCommit();	/* start replicating with it */
}

static void
CatalogDeleteRegion(LocalityRegionId id)
{
	Oid			argtypes[1] = {INT2OID};
	Datum		values[1];

	values[0] = Int16GetDatum(id);
	SPI_connect();
	LocalityCatalogExecute("DELETE FROM locality.region_catalog WHERE id = $1",
						   1, argtypes, values, NULL);
	SPI_finish();
	LocalityInvalidateCatalogCache();
}

static void
CatalogSetPrimary(LocalityRegionId id)
{
	Oid			argtypes[1] = {INT2OID};
	Datum		values[1];

	values[0] = Int16GetDatum(id);
	SPI_connect();
	/* Two statements: the partial unique index allows one primary at a time. */
	LocalityCatalogExecute("UPDATE locality.region_catalog SET is_primary = false "
						   "WHERE is_primary AND id <> $1", 1, argtypes, values, NULL);
	LocalityCatalogExecute("UPDATE locality.region_catalog SET is_primary = true "
						   "WHERE id = $1", 1, argtypes, values, NULL);
	SPI_finish();
	LocalityInvalidateCatalogCache();
}

/* Raises 42501 unless this session applies a change sent by a region. */
static void
RequireRemoteApply(const char *function)
{
	if (!LocalityIsRemoteApply())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s is internal to pg_locality", function),
				 errhint("Use locality.add_region, locality.drop_region or "
						 "locality.set_primary_region.")));
	LocalityCheckRegionAdmin();
}

PG_FUNCTION_INFO_V1(locality_catalog_add_region);
PG_FUNCTION_INFO_V1(locality_catalog_drop_region);
PG_FUNCTION_INFO_V1(locality_catalog_set_primary);

/* locality._catalog_add_region(id, name, conninfo, is_primary): internal. */
Datum
locality_catalog_add_region(PG_FUNCTION_ARGS)
{
	RequireRemoteApply("locality._catalog_add_region");
	CatalogInsertRegion(PG_GETARG_INT16(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
						text_to_cstring(PG_GETARG_TEXT_PP(2)), PG_GETARG_BOOL(3));
	PG_RETURN_VOID();
}

/* locality._catalog_drop_region(id): internal. */
Datum
locality_catalog_drop_region(PG_FUNCTION_ARGS)
{
	RequireRemoteApply("locality._catalog_drop_region");
	CatalogDeleteRegion(PG_GETARG_INT16(0));
	PG_RETURN_VOID();
}

/* locality._catalog_set_primary(id): internal. */
Datum
locality_catalog_set_primary(PG_FUNCTION_ARGS)
{
	RequireRemoteApply("locality._catalog_set_primary");
	CatalogSetPrimary(PG_GETARG_INT16(0));
	PG_RETURN_VOID();
}

/* --- add_region --- */


/* The statement that adds region to another region's catalog. */
static char *
RegionAddedSql(const LocalityRegion *region)
{
	return psprintf("SELECT locality._catalog_add_region(%d::smallint, %s, %s, %s)",
					region->id, quote_literal_cstr(region->name),
					quote_literal_cstr(region->conninfo), region->is_primary ? "true" : "false");
}

/*
 * SendCatalogTo makes the new region's catalog equal to ours (plus itself)
 * and creates every managed table there, in the distributed transaction.
 * The new region may be fresh, or know only itself with no managed table.
 */
static void
SendCatalogTo(const LocalityRegion *region)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	PGconn	   *conn;
	char	   *foreign;
	char	   *secret_sql;
	int			i;
	int			ntables;

	LocalityPropagateTo(region, "CREATE EXTENSION IF NOT EXISTS pg_locality");

	conn = LocalityRemoteConnection(region);
	foreign = RemoteValue(conn,
						  psprintf("SELECT (SELECT count(*) FROM locality.region_catalog WHERE name <> %s)"
								   " + (SELECT count(*) FROM locality.table_catalog)",
								   quote_literal_cstr(region->name)),
						  region->name);
	if (foreign == NULL || strcmp(foreign, "0") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("region \"%s\" already has regions or managed tables of its own",
						region->name),
				 errhint("Only a region whose catalog is empty, or holds only itself, can join.")));
	LocalityPropagateTo(region,
						psprintf("DELETE FROM locality.region_catalog WHERE name = %s",
								 quote_literal_cstr(region->name)));

	for (i = 0; i < count; i++)
		LocalityPropagateTo(region, RegionAddedSql(&regions[i]));
	/* Itself too, before the tables: aligning sequences needs its own id. */
	LocalityPropagateTo(region, RegionAddedSql(region));
	/* The cluster's secret: its sessions will present it to us. */
	if ((secret_sql = LocalityPeerSecretSql()) != NULL)
		LocalityPropagateTo(region, secret_sql);

	/* Managed tables: definition, catalog row, sequences (050_regions.sql). */
	SPI_connect();
	if (SPI_execute("SELECT d.statement FROM locality.table_catalog t, "
					"LATERAL locality._table_copy_statements(t.relid) WITH ORDINALITY d(statement, n) "
					"ORDER BY t.relid::oid, d.n", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read managed table definitions");
	ntables = (int) SPI_processed;
	for (i = 0; i < ntables; i++)
	{
		char	   *stmt = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		LocalityPropagateTo(region, stmt);
	}
	SPI_finish();
}

PG_FUNCTION_INFO_V1(locality_add_region);

/*
 * locality_add_region is locality.add_region(name, conninfo).
 */
Datum
locality_add_region(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *local = LocalityGatewayRegion();
	int			count;
	LocalityRegion region;

	RefuseTransactionBlock("locality.add_region()");
	LocalityCheckRegionAdmin();
	ValidateRegionName(name);
	CheckConninfo(conninfo);

	(void) LocalityRegions(&count);
	if (LocalityFindRegionByName(name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("region \"%s\" already exists", name)));
	if (count == 0 && strcmp(name, local) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the first region added on this server must be its own region \"%s\"",
						local),
				 errhint("Call locality.add_region('%s', '<conninfo of this server>') first.",
						 local)));

	CheckRegionIdentity(name, conninfo, count == 0);

	memset(&region, 0, sizeof(region));
	region.id = NextRegionId();
	strlcpy(region.name, name, sizeof(region.name));
	region.conninfo = conninfo;
	region.is_primary = (count == 0);
	region.is_local = (count == 0);

	if (count > 0)
	{
		/* The new region first: it must accept our catalog before anyone changes. */
		SendCatalogTo(&region);
		LocalityPropagateToAll(RegionAddedSql(&region));
	}
	CatalogInsertRegion(region.id, name, conninfo, region.is_primary);
	if (count == 0)
		LocalityEnsurePeerSecret();	/* a new cluster */
	PG_RETURN_VOID();
}

/* --- drop_region --- */

/*
 * CheckNothingHomedIn raises 2BP01 when a managed table is homed in region
 * (REGIONAL BY TABLE IN it, or IN PRIMARY REGION when it is the primary) or
 * a REGIONAL BY ROW table still has rows homed there: name table and count.
 */
static void
CheckNothingHomedIn(const LocalityRegion *region)
{
	Oid			argtypes[2] = {INT2OID, BOOLOID};
	Datum		values[2];
	uint64		n;
	uint64		i;

	values[0] = Int16GetDatum(region->id);
	values[1] = BoolGetDatum(region->is_primary);
	SPI_connect();
	n = LocalityCatalogExecute("SELECT relid::regclass::text, kind, region_column "
							   "FROM locality.table_catalog "
							   "WHERE home_region = $1 OR kind = 'REGIONAL BY ROW' "
							   "OR (kind = 'REGIONAL BY TABLE' AND home_region IS NULL AND $2) "
							   "ORDER BY relid::oid",
							   2, argtypes, values, NULL);
	{
		SPITupleTable *tuples = SPI_tuptable;

		for (i = 0; i < n; i++)
		{
			char	   *table = SPI_getvalue(tuples->vals[i], tuples->tupdesc, 1);
			char	   *kind = SPI_getvalue(tuples->vals[i], tuples->tupdesc, 2);
			char	   *column = SPI_getvalue(tuples->vals[i], tuples->tupdesc, 3);
			char	   *sql;
			long		rows;
			bool		isnull;

			if (strcmp(kind, "REGIONAL BY ROW") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
						 errmsg("cannot drop region \"%s\": table %s is homed there",
								region->name, table),
						 errhint("Move the table with locality.set_locality() first.")));
			sql = psprintf("SELECT count(*) FROM %s WHERE %s = %s::locality.region",
						   table, quote_identifier(column), quote_literal_cstr(region->name));
			if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not count rows of %s", table);
			rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											   1, &isnull));
			if (rows > 0)
				ereport(ERROR,
						(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
						 errmsg("cannot drop region \"%s\": %ld rows of table %s are homed there",
								region->name, rows, table),
						 errhint("Rehome or delete those rows first.")));
		}
	}
	SPI_finish();
}

PG_FUNCTION_INFO_V1(locality_drop_region);

/*
 * locality_drop_region is locality.drop_region(name).  The remaining
 * regions forget the region; the dropped server itself (often unreachable
 * when a region is dropped) is not contacted.
 */
Datum
locality_drop_region(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const LocalityRegion *found;
	LocalityRegion region;
	int			count;

	RefuseTransactionBlock("locality.drop_region()");
	LocalityCheckRegionAdmin();
	found = LocalityLookupRegion(name);
	region = *found;
	region.conninfo = pstrdup(found->conninfo);
	(void) LocalityRegions(&count);

	if (region.is_primary && count > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop the primary region \"%s\"", name),
				 errhint("Make another region primary with locality.set_primary_region() first.")));
	if (region.is_local && count > 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot drop this server's own region \"%s\" while other regions exist",
						name),
				 errhint("Drop it from another region.")));
	CheckNothingHomedIn(&region);

	/* The others first, then here; the dropped region is not a participant. */
	{
		const LocalityRegion *regions = LocalityRegions(&count);
		char	   *sql = psprintf("SELECT locality._catalog_drop_region(%d::smallint)", region.id);
		int			i;

		for (i = 0; i < count; i++)
		{
			if (!regions[i].is_local && regions[i].id != region.id)
				LocalityPropagateTo(&regions[i], sql);
		}
	}
	CatalogDeleteRegion(region.id);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(locality_set_primary_region);

/*
 * locality_set_primary_region is locality.set_primary_region(name).
 */
Datum
locality_set_primary_region(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const LocalityRegion *region;
	LocalityRegionId id;

	LocalityCheckRegionAdmin();
	region = LocalityLookupRegion(name);
	id = region->id;
	if (region->is_primary)
		PG_RETURN_VOID();
	LocalityPropagateToAll(psprintf("SELECT locality._catalog_set_primary(%d::smallint)", id));
	CatalogSetPrimary(id);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(locality_catalog_put_table);

/*
 * locality_catalog_put_table is locality._catalog_put_table(): writes a
 * managed table's catalog row as another region sent it (add_region).
 */
Datum
locality_catalog_put_table(PG_FUNCTION_ARGS)
{
	Oid			argtypes[6] = {OIDOID, TEXTOID, INT2OID, NAMEOID, BOOLOID, TEXTOID};
	Datum		values[6];
	char		nulls[6];
	int			i;

	RequireRemoteApply("locality._catalog_put_table");
	for (i = 0; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(4) || PG_ARGISNULL(5))
		elog(ERROR, "locality._catalog_put_table: missing argument");
	/* No ON CONFLICT: the catalog is a user_catalog_table (decoder.c). */
	SPI_connect();
	LocalityCatalogExecute("DELETE FROM locality.table_catalog WHERE relid = $1::pg_catalog.regclass",
						   1, argtypes, values, nulls);
	LocalityCatalogExecute("INSERT INTO locality.table_catalog "
						   "(relid, kind, home_region, region_column, column_added, conflict_resolution) "
						   "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5, $6)",
						   6, argtypes, values, nulls);
	SPI_finish();
	LocalityInvalidateCatalogCache();
	{
		const LocalityTable *table = LocalityFindTable(PG_GETARG_OID(0));

		if (table == NULL)
			elog(ERROR, "pg_locality: table %u missing from the catalog just written",
				 PG_GETARG_OID(0));
		LocalitySetHomeGuard(table->relid, table->spec.kind);
		LocalitySetGlobalTriggers(table->relid, table->spec.kind == LOCALITY_GLOBAL);
	}
	PG_RETURN_VOID();
}
