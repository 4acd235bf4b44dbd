/*
 * prerequisites.c -- checks, at CREATE EXTENSION, the server settings
 * pg_locality needs (SPEC.md section 1), and names the one to change.
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/twophase.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "shim.h"

/* Raises 55000 naming setting and the value it needs. */
static void
RequireSetting(bool ok, const char *setting, const char *needed)
{
	if (ok)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pg_locality requires %s = %s", setting, needed),
			 errhint("Set %s = %s in postgresql.conf and restart the server.",
					 setting, needed)));
}

/* True when shared_preload_libraries names pg_locality. */
static bool
IsPreloaded(void)
{
	const char *libs = GetConfigOption("shared_preload_libraries", true, false);

	return libs != NULL && strstr(libs, "pg_locality") != NULL;
}

PG_FUNCTION_INFO_V1(locality_check_prerequisites);

/*
 * locality_check_prerequisites is run by the install script: refuse to
 * install into a server that cannot run pg_locality.
 */
Datum
locality_check_prerequisites(PG_FUNCTION_ARGS)
{
	RequireSetting(IsPreloaded(), "shared_preload_libraries", "'pg_locality'");
	RequireSetting(wal_level >= WAL_LEVEL_LOGICAL, "wal_level", "logical");
	RequireSetting(track_commit_timestamp, "track_commit_timestamp", "on");
	RequireSetting(max_prepared_xacts > 0, "max_prepared_transactions", "64");
	PG_RETURN_VOID();
}
