/*
 * catalog.h -- backend-local cached view of the LOCALITY catalog
 * (locality.region_catalog, locality.table_catalog), src/shim/catalog.c.
 *
 * The caches are rebuilt lazily after any change to the catalog tables
 * (a statement trigger on each sends a relcache invalidation, so other
 * backends see committed changes too).
 */
#ifndef LOCALITY_SHIM_CATALOG_H
#define LOCALITY_SHIM_CATALOG_H

#include "postgres.h"

#include "locality_core.h"

/* Value of a locality.region datum: the region's id in region_catalog. */
typedef int16 LocalityRegionId;
#define InvalidLocalityRegionId ((LocalityRegionId) 0)

typedef struct LocalityRegion
{
	LocalityRegionId id;
	char		name[LOCALITY_REGION_NAME_MAX + 1];
	bool		is_primary;
	bool		is_local;		/* name equals locality.region */
	char	   *conninfo;		/* palloc'd in the cache context */
} LocalityRegion;

/*
 * All regions in the catalog, ordered by id; *count set.  What these
 * functions return stays readable until the end of the current transaction,
 * but is only current until the next catalog invalidation is processed
 * (ask again after anything that may have changed the catalog).
 */
extern const LocalityRegion *LocalityRegions(int *count);

/* The region with that name/id, or NULL. */
extern const LocalityRegion *LocalityFindRegionByName(const char *name);
extern const LocalityRegion *LocalityFindRegionById(LocalityRegionId id);

/*
 * LocalityLookupRegion: the region with that name; 42704 `region "x" does
 * not exist` with a hint listing the regions when there is none (22023 when
 * the name breaks the region-name rule).
 */
extern const LocalityRegion *LocalityLookupRegion(const char *name);

/* The primary region, or NULL before any region was added. */
extern const LocalityRegion *LocalityPrimaryRegion(void);

/*
 * LocalityLocalRegion: this server's region (locality.region) from the
 * catalog; 55000 with a hint to call locality.add_region when it has not
 * been added yet (and the 55000 of LocalityGatewayRegion when the setting is
 * bad).
 */
extern const LocalityRegion *LocalityLocalRegion(void);

/* Managed tables. */
typedef struct LocalityTable
{
	Oid			relid;
	LocalitySpec spec;			/* kind, home region name / in_primary, column */
	bool		column_added;
	char		conflict_resolution[32];
} LocalityTable;

/* True when relid is in locality.table_catalog; cheap (hash lookup). */
extern bool LocalityIsManagedTable(Oid relid);

/* The managed table's entry, or NULL when relid is not managed. */
extern const LocalityTable *LocalityFindTable(Oid relid);

/* Forgets the cached catalog (after this backend changed it). */
extern void LocalityInvalidateCatalogCache(void);

/*
 * LocalityCatalogExecute: runs SPI query with params as the owner of the
 * extension (the catalog tables are not writable by other roles; callers
 * check privileges first), with search_path = pg_catalog, pg_temp: name
 * every object schema-qualified.  Returns SPI_processed (SPI_tuptable holds
 * any rows).  The caller must be connected to SPI.
 */
extern uint64 LocalityCatalogExecute(const char *query, int nargs, Oid *argtypes,
									 Datum *values, const char *nulls);

/* Raises 42501 unless the current user is superuser or in locality_admin. */
extern void LocalityCheckRegionAdmin(void);

/*
 * True when pg_locality is installed in this database.  Cheap after the
 * first call (a cached flag, reset when the extension is created or
 * dropped), so hooks can test it on every statement.
 */
extern bool LocalityIsInstalled(void);

/* Registers the cache invalidation callbacks (from _PG_init). */
extern void LocalityInitCatalog(void);

#endif							/* LOCALITY_SHIM_CATALOG_H */
