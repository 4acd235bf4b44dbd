/*
 * conflict_mode.c -- locality.set_conflict_resolution(tbl, mode): how the
 * apply worker resolves a conflict on a table (SPEC.md section 5), set on
 * every region in one distributed transaction.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/global_triggers.h"
#include "shim/stamps.h"

PG_FUNCTION_INFO_V1(locality_set_conflict_resolution);

/*
 * locality_set_conflict_resolution is locality.set_conflict_resolution(tbl
 * regclass, mode text): needs table ownership and a managed table.
 */
Datum
locality_set_conflict_resolution(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *mode_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
	LocalityStatus status;
	int			mode;
	const char *name;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];

	LocalityInitStatus(&status);
	if (!locality_conflict_mode_parse(mode_text, &mode, &status))
		LocalityRaiseStatus(&status, NULL);
	name = locality_conflict_mode_name(mode);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));
	if (!LocalityIsManagedTable(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no locality", get_rel_name(relid)),
				 errhint("Give it one with locality.set_locality() first.")));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(name);
	SPI_connect();
	LocalityCatalogExecute("UPDATE locality.table_catalog SET conflict_resolution = $2 "
						   "WHERE relid = $1::pg_catalog.regclass", 2, argtypes, values, NULL);
	SPI_finish();
	LocalityInvalidateCatalogCache();
	/* Column versions are kept only in last_write_wins_column mode. */
	LocalitySetGlobalTriggers(relid, LocalityFindTable(relid)->spec.kind == LOCALITY_GLOBAL);

	LocalityPropagateToAll(psprintf("SELECT locality.set_conflict_resolution(%s, %s)",
									quote_literal_cstr(quote_qualified_identifier(
										get_namespace_name(get_rel_namespace(relid)),
										get_rel_name(relid))),
									quote_literal_cstr(name)));
	PG_RETURN_VOID();
}
