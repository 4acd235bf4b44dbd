/*
 * gateway.c -- this server's region: the locality.region setting and
 * locality.gateway_region(), the default of REGIONAL BY ROW region columns.
 *
 * The setting is read at server start.  A missing or invalid value does not
 * stop the server (a DBA must be able to log in and fix it); every use of
 * the region instead fails with 55000 naming the setting.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "shim.h"
#include "shim/catalog.h"

char	   *LocalityRegionSetting = NULL;

/*
 * LocalityDefineGatewayGucs registers locality.region.
 */
void
LocalityDefineGatewayGucs(void)
{
	DefineCustomStringVariable("locality.region",
							   "This server's region.",
							   "1 to 63 characters of [a-z0-9-], starting with a letter; "
							   "a server restart is needed to change it.",
							   &LocalityRegionSetting,
							   "",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);
}

/*
 * LocalityGatewayRegion returns this server's region name, or raises 55000
 * when locality.region is unset or breaks the region-name rule.  The setting
 * only changes with a restart, so it is checked once per process: the
 * router and the safety net ask on every write.
 */
const char *
LocalityGatewayRegion(void)
{
	static bool checked = false;
	LocalityStatus status;

	if (checked)
		return LocalityRegionSetting;

	if (LocalityRegionSetting == NULL || LocalityRegionSetting[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("locality.region is not set"),
				 errhint("Set locality.region to this server's region in postgresql.conf "
						 "and restart the server.")));

	LocalityInitStatus(&status);
	if (!locality_region_name_validate(LocalityRegionSetting, &status))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("locality.region is set to an invalid region name \"%s\"",
						LocalityRegionSetting),
				 errdetail_internal("%s", status.detail),
				 errhint("Fix locality.region in postgresql.conf and restart the server.")));

	checked = true;
	return LocalityRegionSetting;
}

PG_FUNCTION_INFO_V1(locality_gateway_region);

/*
 * locality_gateway_region is locality.gateway_region(): this server's region
 * as a locality.region (55000 until it has been added to the catalog).
 */
Datum
locality_gateway_region(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(LocalityLocalRegion()->id);
}
