/*
 * region_type.c -- the locality.region type (020_region_type.sql).
 *
 * A value is the region's id in locality.region_catalog, two bytes passed by
 * value, so REGIONAL BY ROW tables pay two bytes a row for their home.  Text
 * I/O maps names to ids through the catalog cache (catalog.c); the binary
 * form is the name too, so binary COPY and replication between servers never
 * depend on ids.  Comparison and hashing are int2's (SQL aliases), so values
 * order by id, that is by the order regions were added.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "shim.h"
#include "shim/catalog.h"

/*
 * RegionIdName returns the name of region id, or for an id no longer in the
 * catalog a marked text that no region name can equal: a row whose region
 * was dropped stays readable (and fixable).
 */
static char *
RegionIdName(LocalityRegionId id)
{
	const LocalityRegion *region = LocalityFindRegionById(id);

	if (region == NULL)
		return psprintf("<dropped region %d>", (int) id);
	return pstrdup(region->name);
}

PG_FUNCTION_INFO_V1(locality_region_in);

/*
 * locality_region_in: a region name to its id (22023 for a malformed name,
 * 42704 for a region that does not exist).
 */
Datum
locality_region_in(PG_FUNCTION_ARGS)
{
	const char *name = PG_GETARG_CSTRING(0);

	PG_RETURN_INT16(LocalityLookupRegion(name)->id);
}

PG_FUNCTION_INFO_V1(locality_region_out);

/*
 * locality_region_out: an id to its region's name.
 */
Datum
locality_region_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(RegionIdName(PG_GETARG_INT16(0)));
}

PG_FUNCTION_INFO_V1(locality_region_recv);

/*
 * locality_region_recv: the binary form is the region's name as text.
 */
Datum
locality_region_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes;
	char	   *name;

	name = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_INT16(LocalityLookupRegion(name)->id);
}

PG_FUNCTION_INFO_V1(locality_region_send);

/*
 * locality_region_send: the region's name as text.
 */
Datum
locality_region_send(PG_FUNCTION_ARGS)
{
	char	   *name = RegionIdName(PG_GETARG_INT16(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendtext(&buf, name, strlen(name));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(locality_region_from_id);

/*
 * locality_region_from_id is locality._region_from_id(smallint): the region
 * value of an id, unchecked, so views over region_catalog show the rows
 * their snapshot sees even when the cache (the latest catalog) no longer
 * has them.
 */
Datum
locality_region_from_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(PG_GETARG_INT16(0));
}
