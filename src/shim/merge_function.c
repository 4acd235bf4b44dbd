/*
 * merge_function.c -- locality.set_merge_function(tbl, col, fn) (SPEC.md
 * section 5): fn(local, remote) gives the value of col whenever a remote
 * write meets a local row, like a CRDT column.  The catalog row
 * (locality.merge_functions) is written on every region in one distributed
 * transaction; apply.c asks LocalityMergeFunctions() per change.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/crdt.h"
#include "shim/dist_xact.h"
#include "shim/merge_function.h"

typedef struct MergeEntry
{
	Oid			relid;			/* hash key */
	FmgrInfo  **fns;			/* per column, or NULL when none */
} MergeEntry;

static HTAB *MergeCache = NULL;

static void
MergeCacheInvalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	MergeEntry *entry;

	if (MergeCache == NULL)
		return;
	hash_seq_init(&scan, MergeCache);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (OidIsValid(relid) && entry->relid != relid)
			continue;
		if (entry->fns != NULL)
			pfree(entry->fns);	/* one block: the array, then the infos */
		(void) hash_search(MergeCache, &entry->relid, HASH_REMOVE, NULL);
	}
}

/* Reads rel's merge functions from locality.merge_functions. */
static FmgrInfo **
LoadMergeFunctions(Relation rel)
{
	Oid			nsp = get_namespace_oid("locality", true);
	Oid			catalog_oid = OidIsValid(nsp) ? get_relname_relid("merge_functions", nsp) : InvalidOid;
	int			natts = RelationGetDescr(rel)->natts;
	FmgrInfo  **fns = NULL;
	Relation	catalog;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;

	if (!OidIsValid(catalog_oid))
		return NULL;
	catalog = table_open(catalog_oid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(catalog, RelationGetPrimaryKeyIndex(catalog), true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Name		attname = DatumGetName(heap_getattr(tuple, 2, RelationGetDescr(catalog), &isnull));
		Oid			fn = DatumGetObjectId(heap_getattr(tuple, 3, RelationGetDescr(catalog), &isnull));
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), NameStr(*attname));

		if (attnum <= 0 || attnum > natts)
			continue;
		if (fns == NULL)
		{
			/* One NULL-terminated block: the array (+1 end mark), then the infos. */
			fns = MemoryContextAllocZero(CacheMemoryContext,
										 sizeof(FmgrInfo *) * (natts + 1) +
										 sizeof(FmgrInfo) * natts);
			fns[natts] = (FmgrInfo *) -1;
		}
		fns[attnum - 1] = (FmgrInfo *) ((char *) fns + sizeof(FmgrInfo *) * (natts + 1)) +
			(attnum - 1);
		fmgr_info_cxt(fn, fns[attnum - 1], CacheMemoryContext);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return fns;
}

FmgrInfo **
LocalityMergeFunctions(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	MergeEntry *entry;
	bool		found;

	if (MergeCache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MergeEntry);
		ctl.hcxt = CacheMemoryContext;
		MergeCache = hash_create("pg_locality merge functions", 32, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(MergeCacheInvalidate, (Datum) 0);
	}
	entry = hash_search(MergeCache, &relid, HASH_FIND, &found);
	if (entry == NULL)
	{
		FmgrInfo  **fns = LoadMergeFunctions(rel);

		entry = hash_search(MergeCache, &relid, HASH_ENTER, &found);
		entry->fns = fns;
	}
	return entry->fns;
}

PG_FUNCTION_INFO_V1(locality_set_merge_function);

/*
 * locality_set_merge_function is locality.set_merge_function(tbl regclass,
 * col name, fn regprocedure): fn(local T, remote T) returns T for column
 * col of type T; fn NULL removes it.  Needs table ownership and EXECUTE on
 * fn.  The merge converges only when fn is commutative, associative and
 * idempotent (docs/conflicts.md section 5).
 */
Datum
locality_set_merge_function(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *col;
	Oid			fn = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	AttrNumber	attnum;
	Oid			atttype;
	char	   *relname;
	Oid			argtypes[3] = {OIDOID, NAMEOID, OIDOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and column must not be null")));
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	if (!LocalityIsManagedTable(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no locality", relname),
				 errhint("Give it one with locality.set_locality() first.")));
	attnum = get_attnum(relid, col);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", col, relname)));
	atttype = get_atttype(relid, attnum);
	if (LocalityCrdtKindOfType(atttype) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of relation \"%s\" is of CRDT type %s, which merges already",
						col, relname, format_type_be(atttype))));
	if (OidIsValid(fn))
	{
		HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
		Form_pg_proc form;
		bool		fits;
		AclResult	acl;

		if (!HeapTupleIsValid(proc))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("function with OID %u does not exist", fn)));
		form = (Form_pg_proc) GETSTRUCT(proc);
		fits = form->prokind == PROKIND_FUNCTION && !form->proretset && form->pronargs == 2 &&
			form->proargtypes.values[0] == atttype && form->proargtypes.values[1] == atttype &&
			form->prorettype == atttype;
		ReleaseSysCache(proc);
		if (!fits)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("function %s cannot merge column \"%s\" of relation \"%s\"",
							format_procedure(fn), col, relname),
					 errdetail("A merge function of a column of type %s is fn(local %s, remote %s) "
							   "returns %s.", format_type_be(atttype), format_type_be(atttype),
							   format_type_be(atttype), format_type_be(atttype))));
		acl = pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);
		if (acl != ACLCHECK_OK)
			aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(fn));
	}

	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = ObjectIdGetDatum(fn);
	SPI_connect();
	LocalityCatalogExecute("DELETE FROM locality.merge_functions WHERE relid = $1 AND attname = $2",
						   2, argtypes, values, nulls);
	if (OidIsValid(fn))
		LocalityCatalogExecute("INSERT INTO locality.merge_functions (relid, attname, fn) "
							   "VALUES ($1, $2, $3)", 3, argtypes, values, nulls);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(relid);

	LocalityPropagateToAll(psprintf("SELECT locality.set_merge_function(%s, %s, %s)",
									quote_literal_cstr(quote_qualified_identifier(
										get_namespace_name(get_rel_namespace(relid)), relname)),
									quote_literal_cstr(col),
									OidIsValid(fn) ?
									quote_literal_cstr(format_procedure_qualified(fn)) : "NULL"));
	PG_RETURN_VOID();
}
