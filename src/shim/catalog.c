/*
 * catalog.c -- the backend-local cache of the LOCALITY catalog
 * (locality.region_catalog, locality.table_catalog) and the helpers the
 * control plane changes it with.
 *
 * The planner and ProcessUtility hooks ask LocalityIsManagedTable() on every
 * statement, so the answer comes from memory: one flag test in a database
 * without pg_locality, a hash lookup otherwise.  The cache is rebuilt lazily
 * after a relcache invalidation of either catalog table.  A statement
 * trigger on both tables (locality._catalog_changed, 015_catalog_triggers.sql)
 * sends one on every change, so this backend rebuilds at its next command
 * and every other backend once the change commits.
 *
 * Whether the extension is installed is cached too.  Dropping it drops the
 * catalog tables (a relcache invalidation of each); creating it creates
 * them (a syscache invalidation of pg_class by name), and either resets the
 * cached answer.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/catalog.h"

#define LOCALITY_EXTENSION_NAME "pg_locality"
#define LOCALITY_SCHEMA_NAME "locality"

/* Whether pg_locality is installed in this database, as last looked up. */
typedef enum CatalogState
{
	CATALOG_UNKNOWN,			/* not looked up since the last invalidation */
	CATALOG_ABSENT,				/* not installed */
	CATALOG_PRESENT				/* installed; the OIDs below are valid */
} CatalogState;

static CatalogState catalog_state = CATALOG_UNKNOWN;
static Oid	extension_owner = InvalidOid;
static Oid	region_catalog_relid = InvalidOid;
static Oid	table_catalog_relid = InvalidOid;

/*
 * Bumped by every invalidation that concerns us, so a rebuild can tell
 * whether one arrived while it was reading (lock acquisition processes
 * pending invalidations).
 */
static uint64 catalog_generation = 0;

/* The cached catalog: valid only while cache_valid. */
static bool cache_valid = false;
static MemoryContext CatalogCacheContext = NULL;
static LocalityRegion *regions = NULL;	/* ordered by id */
static int	region_count = 0;
static const LocalityRegion *primary_region = NULL;
static const LocalityRegion *local_region = NULL;
static HTAB *table_hash = NULL;
static long table_count = 0;

static void CatalogRelcacheCallback(Datum arg, Oid relid);
static void CatalogSyscacheCallback(Datum arg, int cacheid, uint32 hashvalue);
static void LookUpCatalog(void);
static bool LoadCatalog(void);
static bool EnsureCatalog(bool quiet);

/*
 * LocalityInitCatalog registers the invalidation callbacks.  Runs in every
 * process that loads the library, preloaded or not.
 */
void
LocalityInitCatalog(void)
{
	CacheRegisterRelcacheCallback(CatalogRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(RELNAMENSP, CatalogSyscacheCallback, (Datum) 0);
}

/*
 * CatalogRelcacheCallback forgets the cache when either catalog table
 * changes (our trigger, DROP EXTENSION, ANALYZE...) or on a full reset.
 * Only flags are set here: the next rebuild leaves the old copy to the end
 * of the transaction, so pointers handed out stay readable until then.
 */
static void
CatalogRelcacheCallback(Datum arg, Oid relid)
{
	if (relid != InvalidOid &&
		(!OidIsValid(region_catalog_relid) ||
		 (relid != region_catalog_relid && relid != table_catalog_relid)))
		return;

	catalog_state = CATALOG_UNKNOWN;
	cache_valid = false;
	catalog_generation++;
}

/*
 * CatalogSyscacheCallback: a relation was created, renamed or dropped
 * somewhere; unless pg_locality is known to be installed, it may have just
 * been.
 */
static void
CatalogSyscacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (catalog_state == CATALOG_PRESENT)
		return;
	catalog_state = CATALOG_UNKNOWN;
	catalog_generation++;
}

/*
 * LookUpOnce: CATALOG_PRESENT with the catalog's OIDs and the extension's
 * owner when pg_locality is installed, else CATALOG_ABSENT.  Schema and
 * table names come from the syscache, so a database without pg_locality
 * costs no catalog scan.
 */
static CatalogState
LookUpOnce(Oid *region_relid, Oid *table_relid, Oid *owner)
{
	Oid			nspid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	*owner = InvalidOid;
	nspid = get_namespace_oid(LOCALITY_SCHEMA_NAME, true);
	if (!OidIsValid(nspid))
		return CATALOG_ABSENT;
	*region_relid = get_relname_relid("region_catalog", nspid);
	*table_relid = get_relname_relid("table_catalog", nspid);
	if (!OidIsValid(*region_relid) || !OidIsValid(*table_relid))
		return CATALOG_ABSENT;

	/* The schema must be pg_locality's, not a namesake. */
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(LOCALITY_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple) &&
		((Form_pg_extension) GETSTRUCT(tuple))->extnamespace == nspid)
		*owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	return OidIsValid(*owner) ? CATALOG_PRESENT : CATALOG_ABSENT;
}

/*
 * LookUpCatalog sets catalog_state (and the OIDs), looking again when an
 * invalidation arrived meanwhile (taking a lock processes them).
 */
static void
LookUpCatalog(void)
{
	CatalogState state;
	Oid			region_relid = InvalidOid;
	Oid			table_relid = InvalidOid;
	Oid			owner;
	uint64		generation;

	do
	{
		generation = catalog_generation;
		state = LookUpOnce(&region_relid, &table_relid, &owner);
	} while (generation != catalog_generation);

	if (state == CATALOG_PRESENT)
	{
		extension_owner = owner;
		region_catalog_relid = region_relid;
		table_catalog_relid = table_relid;
	}
	catalog_state = state;
}

/* AttnumOf: the number of column name in desc (a catalog table's). */
static AttrNumber
AttnumOf(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "pg_locality catalog table has no column \"%s\"", name);
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/* CompareRegionIds orders regions by id for qsort. */
static int
CompareRegionIds(const void *a, const void *b)
{
	return (int) ((const LocalityRegion *) a)->id -
		(int) ((const LocalityRegion *) b)->id;
}

/* ReadRegions fills regions from region_catalog (rel), ordered by id. */
static void
ReadRegions(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	att_id = AttnumOf(desc, "id");
	AttrNumber	att_name = AttnumOf(desc, "name");
	AttrNumber	att_conninfo = AttnumOf(desc, "conninfo");
	AttrNumber	att_primary = AttnumOf(desc, "is_primary");
	SysScanDesc scan;
	HeapTuple	tuple;
	int			allocated = 8;

	regions = palloc0(sizeof(LocalityRegion) * allocated);
	region_count = 0;

	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		LocalityRegion *region;
		bool		isnull;
		Datum		value;

		if (region_count == allocated)
		{
			allocated *= 2;
			regions = repalloc(regions, sizeof(LocalityRegion) * allocated);
		}
		region = &regions[region_count++];
		memset(region, 0, sizeof(*region));

		region->id = DatumGetInt16(heap_getattr(tuple, att_id, desc, &isnull));
		value = heap_getattr(tuple, att_name, desc, &isnull);
		if (!isnull)
			strlcpy(region->name, TextDatumGetCString(value), sizeof(region->name));
		value = heap_getattr(tuple, att_conninfo, desc, &isnull);
		region->conninfo = isnull ? pstrdup("") : TextDatumGetCString(value);
		value = heap_getattr(tuple, att_primary, desc, &isnull);
		region->is_primary = !isnull && DatumGetBool(value);
		region->is_local = LocalityRegionSetting != NULL &&
			strcmp(region->name, LocalityRegionSetting) == 0;
	}
	systable_endscan(scan);

	qsort(regions, region_count, sizeof(LocalityRegion), CompareRegionIds);
}

/* LocalityKindOf: the LocalityKind of a table_catalog.kind text. */
static int
LocalityKindOf(const char *kind)
{
	if (strcmp(kind, "GLOBAL") == 0)
		return LOCALITY_GLOBAL;
	if (strcmp(kind, "REGIONAL BY TABLE") == 0)
		return LOCALITY_REGIONAL_BY_TABLE;
	if (strcmp(kind, "REGIONAL BY ROW") == 0)
		return LOCALITY_REGIONAL_BY_ROW;
	elog(ERROR, "unexpected locality kind \"%s\" in locality.table_catalog", kind);
	return 0;					/* keep the compiler quiet */
}

/*
 * ReadTables fills table_hash from table_catalog (rel).  Needs regions read
 * first, for the home regions' names.
 */
static void
ReadTables(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	att_relid = AttnumOf(desc, "relid");
	AttrNumber	att_kind = AttnumOf(desc, "kind");
	AttrNumber	att_home = AttnumOf(desc, "home_region");
	AttrNumber	att_column = AttnumOf(desc, "region_column");
	AttrNumber	att_added = AttnumOf(desc, "column_added");
	AttrNumber	att_resolution = AttnumOf(desc, "conflict_resolution");
	HASHCTL		ctl;
	SysScanDesc scan;
	HeapTuple	tuple;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(LocalityTable);
	ctl.hcxt = CatalogCacheContext;
	table_hash = hash_create("pg_locality managed tables", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	table_count = 0;

	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Oid			relid;
		LocalityTable *table;
		bool		isnull;
		bool		found;
		Datum		value;

		relid = DatumGetObjectId(heap_getattr(tuple, att_relid, desc, &isnull));
		table = hash_search(table_hash, &relid, HASH_ENTER, &found);
		if (!found)
			table_count++;
		memset(table, 0, sizeof(*table));
		table->relid = relid;

		value = heap_getattr(tuple, att_kind, desc, &isnull);
		table->spec.kind = LocalityKindOf(isnull ? "" : TextDatumGetCString(value));

		value = heap_getattr(tuple, att_home, desc, &isnull);
		if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
		{
			const LocalityRegion *home = NULL;

			if (!isnull)
			{
				LocalityRegionId id = DatumGetInt16(value);

				for (int i = 0; i < region_count; i++)
					if (regions[i].id == id)
						home = &regions[i];
			}
			if (home != NULL)
				strlcpy(table->spec.region, home->name, sizeof(table->spec.region));
			else
				table->spec.in_primary_region = 1;
		}

		value = heap_getattr(tuple, att_column, desc, &isnull);
		if (!isnull && table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
			strlcpy(table->spec.column, NameStr(*DatumGetName(value)),
					sizeof(table->spec.column));

		value = heap_getattr(tuple, att_added, desc, &isnull);
		table->column_added = !isnull && DatumGetBool(value);

		value = heap_getattr(tuple, att_resolution, desc, &isnull);
		strlcpy(table->conflict_resolution,
				isnull ? "last_write_wins" : TextDatumGetCString(value),
				sizeof(table->conflict_resolution));
	}
	systable_endscan(scan);
}

/*
 * LoadCatalog rebuilds the cache from both catalog tables.  Returns false,
 * with catalog_state reset, when they have gone (a stale OID).
 */
static bool
LoadCatalog(void)
{
	Relation	region_rel;
	Relation	table_rel;
	MemoryContext old_context;
	uint64		generation;

	/* Lock first: that processes pending invalidations before we read. */
	region_rel = try_table_open(region_catalog_relid, AccessShareLock);
	table_rel = region_rel ? try_table_open(table_catalog_relid, AccessShareLock) : NULL;
	if (table_rel == NULL)
	{
		if (region_rel != NULL)
			table_close(region_rel, AccessShareLock);
		catalog_state = CATALOG_UNKNOWN;
		return false;
	}
	/* Both opened by OID after locking: they exist, whatever a callback said. */
	catalog_state = CATALOG_PRESENT;

	/*
	 * Callers may still hold pointers into the previous copy: it lives on
	 * until the end of the transaction.
	 */
	if (CatalogCacheContext != NULL)
		MemoryContextSetParent(CatalogCacheContext, TopTransactionContext);
	CatalogCacheContext = AllocSetContextCreate(CacheMemoryContext,
												"pg_locality catalog cache",
												ALLOCSET_SMALL_SIZES);

	/* Reading may take further locks (TOAST); read again if that changed it. */
	do
	{
		generation = catalog_generation;

		/*
		 * Read with a fresh catalog snapshot: PostgreSQL renews it on catcache
		 * invalidations, not on the relcache ones that brought us here.
		 */
		InvalidateCatalogSnapshot();
		MemoryContextReset(CatalogCacheContext);
		regions = NULL;
		region_count = 0;
		primary_region = local_region = NULL;
		table_hash = NULL;
		table_count = 0;

		old_context = MemoryContextSwitchTo(CatalogCacheContext);
		ReadRegions(region_rel);
		ReadTables(table_rel);
		MemoryContextSwitchTo(old_context);
	} while (generation != catalog_generation);

	for (int i = 0; i < region_count; i++)
	{
		if (regions[i].is_primary)
			primary_region = &regions[i];
		if (regions[i].is_local)
			local_region = &regions[i];
	}

	table_close(table_rel, AccessShareLock);
	table_close(region_rel, AccessShareLock);

	catalog_state = CATALOG_PRESENT;
	cache_valid = true;
	return true;
}

/*
 * EnsureCatalog makes the cache valid; false when pg_locality is not
 * installed.  Outside a valid transaction the catalog cannot be read: quiet
 * callers (the hooks) get false, others an error.
 */
static bool
EnsureCatalog(bool quiet)
{
	if (cache_valid)
		return true;
	if (catalog_state == CATALOG_ABSENT)
		return false;
	if (!IsTransactionState())
	{
		if (quiet)
			return false;
		elog(ERROR, "pg_locality's catalog cannot be read outside a transaction");
	}

	/* A stale OID sends us back to the lookup; a few rounds settle it. */
	for (int attempt = 0; attempt < 3; attempt++)
	{
		if (catalog_state == CATALOG_UNKNOWN)
			LookUpCatalog();
		if (catalog_state != CATALOG_PRESENT)
			return false;
		if (LoadCatalog())
			return true;
	}
	return false;
}

/*
 * LocalityIsInstalled: whether pg_locality is installed in this database.
 */
bool
LocalityIsInstalled(void)
{
	if (catalog_state == CATALOG_ABSENT)
		return false;
	if (catalog_state == CATALOG_PRESENT)
		return true;
	if (!IsTransactionState())
		return false;
	LookUpCatalog();
	return catalog_state == CATALOG_PRESENT;
}

/*
 * LocalityRegions returns every region, ordered by id.
 */
const LocalityRegion *
LocalityRegions(int *count)
{
	if (!EnsureCatalog(false))
	{
		*count = 0;
		return NULL;
	}
	*count = region_count;
	return regions;
}

/*
 * LocalityFindRegionByName returns the region called name, or NULL.
 */
const LocalityRegion *
LocalityFindRegionByName(const char *name)
{
	if (name == NULL || !EnsureCatalog(false))
		return NULL;
	for (int i = 0; i < region_count; i++)
		if (strcmp(regions[i].name, name) == 0)
			return &regions[i];
	return NULL;
}

/*
 * LocalityFindRegionById returns the region with that id, or NULL (binary
 * search: region output calls this for every value printed).
 */
const LocalityRegion *
LocalityFindRegionById(LocalityRegionId id)
{
	int			low = 0;
	int			high;

	if (!EnsureCatalog(false))
		return NULL;
	high = region_count - 1;
	while (low <= high)
	{
		int			mid = (low + high) / 2;

		if (regions[mid].id == id)
			return &regions[mid];
		if (regions[mid].id < id)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return NULL;
}

/*
 * RegionListHint returns the hint of an unknown region error: the regions
 * there are, in id order, or what to do when there is none.
 */
static char *
RegionListHint(void)
{
	StringInfoData buf;
	int			count;
	const LocalityRegion *all = LocalityRegions(&count);

	if (count == 0)
		return pstrdup(_("No region has been added yet; call locality.add_region() first "
								 "(restoring a dump: locality.region_catalog's rows must be "
								 "restored before the tables', see docs/operations.md)."));

	initStringInfo(&buf);
	appendStringInfoString(&buf, _("Regions: "));
	for (int i = 0; i < count; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", all[i].name);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/*
 * LocalityLookupRegion returns the region called name: 22023 when the name
 * breaks the region-name rule, 42704 with the list of regions when there is
 * no such region.
 */
const LocalityRegion *
LocalityLookupRegion(const char *name)
{
	LocalityStatus status;
	const LocalityRegion *region;

	LocalityInitStatus(&status);
	if (!locality_region_name_validate(name, &status))
		LocalityRaiseStatus(&status, NULL);

	region = LocalityFindRegionByName(name);
	if (region == NULL)
	{
		char	   *hint = RegionListHint();

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("region \"%s\" does not exist", name),
				 errhint("%s", hint)));
	}
	return region;
}

/*
 * LocalityPrimaryRegion returns the primary region, or NULL.
 */
const LocalityRegion *
LocalityPrimaryRegion(void)
{
	if (!EnsureCatalog(false))
		return NULL;
	return primary_region;
}

/*
 * LocalityLocalRegion returns this server's region from the catalog; 55000
 * when locality.region is bad (LocalityGatewayRegion) or names a region not
 * added yet.
 */
const LocalityRegion *
LocalityLocalRegion(void)
{
	const char *name = LocalityGatewayRegion();

	if (EnsureCatalog(false) && local_region != NULL)
		return local_region;

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("this server's region \"%s\" has not been added", name),
			 errhint("Call locality.add_region('%s', '<conninfo of this server>') first.",
					 name)));
	return NULL;				/* keep the compiler quiet */
}

/*
 * LocalityIsManagedTable: whether relid is in locality.table_catalog.  On
 * every statement's path: a flag test without pg_locality, a hash lookup
 * with it.
 */
bool
LocalityIsManagedTable(Oid relid)
{
	if (catalog_state == CATALOG_ABSENT)
		return false;
	if (!cache_valid && !EnsureCatalog(true))
		return false;
	if (table_count == 0)
		return false;
	return hash_search(table_hash, &relid, HASH_FIND, NULL) != NULL;
}

/*
 * LocalityFindTable returns the managed table's entry, or NULL.
 */
const LocalityTable *
LocalityFindTable(Oid relid)
{
	if (catalog_state == CATALOG_ABSENT)
		return NULL;
	if (!cache_valid && !EnsureCatalog(true))
		return NULL;
	if (table_count == 0)
		return NULL;
	return hash_search(table_hash, &relid, HASH_FIND, NULL);
}

/*
 * LocalityInvalidateCatalogCache forgets the cache; the next use rebuilds
 * it.  Changes of this transaction are seen once a command counter
 * increment has made them visible (SPI does that after each statement).
 */
void
LocalityInvalidateCatalogCache(void)
{
	catalog_state = CATALOG_UNKNOWN;
	cache_valid = false;
	catalog_generation++;
}

/*
 * LocalityCatalogExecute runs query through SPI as the extension's owner,
 * with a search_path that no other role can plant objects in.  The user id
 * and the setting are restored on error too, for callers that catch errors
 * without a subtransaction.  Callers outside a statement (transaction
 * callbacks, background workers) need not set a snapshot: one is pushed
 * when none is active.
 */
uint64
LocalityCatalogExecute(const char *query, int nargs, Oid *argtypes,
					   Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		pushed_snapshot = false;
	int			rc = 0;

	if (!LocalityIsInstalled())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed in this database",
						LOCALITY_EXTENSION_NAME)));

	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed_snapshot = true;
	}

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(extension_owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		rc = SPI_execute_with_args(query, nargs, argtypes, values, nulls,
								   false, 0);
	}
	PG_FINALLY();
	{
		AtEOXact_GUC(false, save_nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	/* On error, transaction abort pops it. */
	if (pushed_snapshot)
		PopActiveSnapshot();

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed for \"%s\": %s",
			 query, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * LocalityCheckRegionAdmin raises 42501 unless the current user may change
 * regions: a superuser or a member of locality_admin.
 */
void
LocalityCheckRegionAdmin(void)
{
	Oid			admin;

	if (superuser())
		return;
	admin = get_role_oid("locality_admin", true);
	if (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change regions"),
			 errhint("Only superusers and members of locality_admin can change regions.")));
}

PG_FUNCTION_INFO_V1(locality_catalog_changed);

/*
 * locality_catalog_changed is the statement trigger on both catalog tables
 * (locality._catalog_changed): a relcache invalidation of the table makes
 * this backend rebuild its cache at the next command, and every other
 * backend once the transaction commits.
 */
Datum
locality_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("locality._catalog_changed() must be called as a trigger")));

	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	LocalityInvalidateCatalogCache();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(locality_is_managed_table);

/*
 * locality_is_managed_table exposes LocalityIsManagedTable(oid) to tests
 * (test/t/002_region_cache.pl declares it in a database of its choosing,
 * with or without the extension); it is not part of the SQL API.
 */
Datum
locality_is_managed_table(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(LocalityIsManagedTable(PG_GETARG_OID(0)));
}
