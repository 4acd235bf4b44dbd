/*
 * peer_secret.c -- who may claim to be another region.
 *
 * Sessions opened by a region to apply its work on another carry
 * locality.remote_apply; hooks then apply what they receive and never send
 * it on.  Since any role can set a setting, the claim is only believed when
 * it carries the cluster's secret (locality.peer_secret: a random value made
 * when a server adds its own region and copied to every region that joins,
 * readable by nobody but the extension's owner), or when the session's role
 * may change regions anyway.  Otherwise a table owner could make a schema
 * change on one region only.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"

/* GUC locality.remote_apply: the token a region's session presents. */
static char *RemoteApplyToken = NULL;

/* The cluster's secret, or NULL when this server has none yet. */
static char *
PeerSecret(void)
{
	char	   *secret = NULL;

	if (!LocalityIsInstalled())
		return NULL;
	SPI_connect();
	if (LocalityCatalogExecute("SELECT secret FROM locality.peer_secret", 0, NULL, NULL, NULL) > 0)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			secret = MemoryContextStrdup(CurTransactionContext, value);
	}
	SPI_finish();
	return secret;
}

/* True for superusers and members of locality_admin. */
static bool
IsRegionAdmin(void)
{
	Oid			admin = get_role_oid("locality_admin", true);

	return superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin));
}

/*
 * LocalityIsRemoteApply: true in a session opened by another region to apply
 * its work (see the file header for when the claim is believed).
 */
bool
LocalityIsRemoteApply(void)
{
	char	   *secret;

	if (RemoteApplyToken == NULL || RemoteApplyToken[0] == '\0')
		return false;
	if (IsRegionAdmin())
		return true;
	secret = PeerSecret();
	return secret != NULL && strcmp(secret, RemoteApplyToken) == 0;
}

/*
 * LocalityPeerToken: what this server's sessions on other regions present
 * (the secret, or "on" before this server has one).  Inside a transaction.
 */
const char *
LocalityPeerToken(void)
{
	char	   *secret = PeerSecret();

	return secret != NULL ? secret : "on";
}

/*
 * LocalityEnsurePeerSecret makes this server's secret if it has none (when
 * it adds its own region, the first of a new cluster).
 */
void
LocalityEnsurePeerSecret(void)
{
	SPI_connect();
	LocalityCatalogExecute("INSERT INTO locality.peer_secret (secret) "
						   "SELECT pg_catalog.gen_random_uuid()::pg_catalog.text "
						   "WHERE NOT EXISTS (SELECT 1 FROM locality.peer_secret)",
						   0, NULL, NULL, NULL);
	SPI_finish();
}

/*
 * LocalityPeerSecretSql: the statement that gives a joining region this
 * cluster's secret (NULL when there is none).
 */
char *
LocalityPeerSecretSql(void)
{
	char	   *secret = PeerSecret();

	if (secret == NULL)
		return NULL;
	return psprintf("SELECT locality._catalog_set_secret(%s)", quote_literal_cstr(secret));
}

PG_FUNCTION_INFO_V1(locality_catalog_set_secret);

/*
 * locality_catalog_set_secret is locality._catalog_set_secret(secret):
 * internal, a joining region adopts the cluster's secret.
 */
Datum
locality_catalog_set_secret(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	if (!LocalityIsRemoteApply())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("locality._catalog_set_secret is internal to pg_locality")));
	LocalityCheckRegionAdmin();
	values[0] = PG_GETARG_DATUM(0);
	SPI_connect();
	LocalityCatalogExecute("DELETE FROM locality.peer_secret", 0, NULL, NULL, NULL);
	LocalityCatalogExecute("INSERT INTO locality.peer_secret (secret) VALUES ($1)",
						   1, argtypes, values, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * LocalityDefinePeerGucs registers locality.remote_apply (readable by
 * superusers only: the value may be the secret).
 */
void
LocalityDefinePeerGucs(void)
{
	DefineCustomStringVariable("locality.remote_apply",
							   "Set by pg_locality in sessions that apply work sent by another region.",
							   NULL,
							   &RemoteApplyToken,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}
