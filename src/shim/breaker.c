/*
 * breaker.c -- regional isolation (ARCHITECTURE.md, component 5): the gate
 * every call from a client backend to another region passes.
 *
 * locality.enforce_home_region turns any such call into a 55000 error.
 * Otherwise each (database, region) has a circuit breaker in shared memory,
 * so every backend learns at once what one backend found out: after
 * locality.breaker_failure_threshold consecutive failed calls, calls fail at
 * once with 08006 instead of each waiting for a dead region to time out;
 * after locality.breaker_reset_timeout one trial call goes through, and its
 * outcome closes the breaker or opens it again.  The state machine is the
 * core's (circuit_breaker.hpp); here are the slots, the lock, the settings,
 * the errors and locality.region_status.
 *
 * Only remote.c calls in; local reads and writes never touch the lock
 * (invariant: a dead region never blocks local work).
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/breaker.h"
#include "shim/remote.h"

int			LocalityBreakerFailureThreshold = 3;
int			LocalityBreakerResetTimeoutMs = 10000;
bool		LocalityEnforceHomeRegion = false;

/* Breakers a server keeps: (database, region) pairs ever called. */
#define LOCALITY_MAX_BREAKERS 256

typedef struct BreakerSlot
{
	bool		in_use;
	Oid			dboid;
	char		region[LOCALITY_REGION_NAME_MAX + 1];
	LocalityBreaker breaker;
	int64		rtt_us;			/* last successful statement's round trip,
								 * -1 for none yet */
	TimestampTz used_at;		/* last outcome: the oldest idle slot is
								 * reused when all are taken */
} BreakerSlot;

typedef struct BreakerShared
{
	LWLock	   *lock;
	BreakerSlot slots[LOCALITY_MAX_BREAKERS];
} BreakerShared;

static BreakerShared *Breakers = NULL;

/* Governed: only client backends are gated and counted (see breaker.h). */
static bool
Governed(void)
{
	return MyBackendType == B_BACKEND;
}

/* The settings as the core takes them. */
static LocalityBreakerConfig
CurrentConfig(void)
{
	LocalityBreakerConfig config;

	config.failure_threshold = LocalityBreakerFailureThreshold;
	config.reset_timeout_us = (int64) LocalityBreakerResetTimeoutMs * 1000;
	/* A trial is one connect or one statement, each bounded by forward_timeout. */
	config.trial_timeout_us = 2 * (int64) LocalityForwardTimeoutMs * 1000 + 1000000;
	return config;
}

/*
 * FindSlot returns region's slot in this database, or NULL.  With create, a
 * missing one is made from a free slot or, when all are taken, from the
 * longest-idle closed breaker with no failures (it holds nothing worth
 * keeping); NULL when none qualifies: that region then goes unguarded.
 * The caller holds the lock exclusively when create.
 */
static BreakerSlot *
FindSlot(const char *region, bool create)
{
	BreakerSlot *free_slot = NULL;
	BreakerSlot *idle = NULL;
	int			i;

	for (i = 0; i < LOCALITY_MAX_BREAKERS; i++)
	{
		BreakerSlot *slot = &Breakers->slots[i];

		if (!slot->in_use)
		{
			if (free_slot == NULL)
				free_slot = slot;
			continue;
		}
		if (slot->dboid == MyDatabaseId && strcmp(slot->region, region) == 0)
			return slot;
		if (slot->breaker.state == LOCALITY_BREAKER_CLOSED &&
			slot->breaker.consecutive_failures == 0 &&
			(idle == NULL || slot->used_at < idle->used_at))
			idle = slot;
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		free_slot = idle;
	if (free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->in_use = true;
	free_slot->dboid = MyDatabaseId;
	strlcpy(free_slot->region, region, sizeof(free_slot->region));
	locality_breaker_init(&free_slot->breaker);
	free_slot->rtt_us = -1;
	return free_slot;
}

/* A region name we can key a slot by (labels are region names). */
static bool
UsableName(const char *region)
{
	return region != NULL && region[0] != '\0' && strlen(region) <= LOCALITY_REGION_NAME_MAX;
}

/* Raises 55000: the statement needs region, and enforce_home_region is on. */
static void
RaiseNotHome(const char *region)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("statement needs region \"%s\", but locality.enforce_home_region is on",
					region),
			 errdetail("This server is in region \"%s\"; with locality.enforce_home_region "
					   "on, no statement may call another region.",
					   LocalityRegionSetting ? LocalityRegionSetting : ""),
			 errhint("Run the statement on a server of region \"%s\", or set "
					 "locality.enforce_home_region to off.", region)));
}

/* Raises 08006 for an open breaker: since when, after what, and until when. */
static void
RaiseOpen(const char *region, const LocalityBreaker *b, const LocalityBreakerConfig *config)
{
	char	   *since = pstrdup(timestamptz_to_str(b->opened_at));
	const char *why = b->last_failure[0] ? b->last_failure : "unknown error";
	char	   *hint;

	if (b->trial_running)
		hint = pstrdup("A trial call is under way; calls go through again once it succeeds.");
	else
		hint = psprintf("One trial call goes through at %s (locality.breaker_reset_timeout).",
						timestamptz_to_str(b->opened_at + config->reset_timeout_us));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("region \"%s\" is unavailable", region),
			 errdetail("Its circuit breaker has been open since %s, after %d failed calls; "
					   "last error: %s",
					   since, b->consecutive_failures, why),
			 errhint("%s", hint)));
}

/*
 * LocalityRegionCallBegin gates a call to region (see breaker.h).
 */
void
LocalityRegionCallBegin(const char *region)
{
	LocalityBreakerConfig config;
	LocalityStatus status;
	BreakerSlot *slot;
	LocalityBreaker copy;
	bool		closed;
	int			decision = LOCALITY_BREAKER_ALLOWED;

	if (!Governed())
		return;
	if (LocalityEnforceHomeRegion)
		RaiseNotHome(region);
	if (Breakers == NULL || !UsableName(region))
		return;

	/* The common case, a closed breaker, under the shared lock only. */
	LWLockAcquire(Breakers->lock, LW_SHARED);
	slot = FindSlot(region, false);
	closed = slot == NULL || slot->breaker.state == LOCALITY_BREAKER_CLOSED;
	LWLockRelease(Breakers->lock);
	if (closed)
		return;

	config = CurrentConfig();
	LocalityInitStatus(&status);
	LWLockAcquire(Breakers->lock, LW_EXCLUSIVE);
	slot = FindSlot(region, false);
	if (slot != NULL)
	{
		locality_breaker_allow(&slot->breaker, &config, GetCurrentTimestamp(), &decision,
							   &status);
		copy = slot->breaker;
	}
	LWLockRelease(Breakers->lock);

	/* A broken breaker lets the call through rather than cut the region off. */
	if (!status.ok && slot != NULL)
		ereport(WARNING,
				(errmsg("circuit breaker of region \"%s\" ignored: %s", region, status.message)));
	if (decision == LOCALITY_BREAKER_REJECTED)
		RaiseOpen(region, &copy, &config);
}

/*
 * LocalityRegionCallEnd records a call's outcome (see breaker.h).
 */
void
LocalityRegionCallEnd(const char *region, bool reached, const char *why, int64 rtt_us)
{
	LocalityBreakerConfig config;
	LocalityStatus status;
	BreakerSlot *slot;
	TimestampTz now;
	char		reason[LOCALITY_BREAKER_REASON_LEN];
	size_t		len;

	if (!Governed() || Breakers == NULL || !UsableName(region))
		return;

	/* libpq's messages end with a newline */
	strlcpy(reason, why ? why : "unknown error", sizeof(reason));
	len = strlen(reason);
	while (len > 0 && (reason[len - 1] == '\n' || reason[len - 1] == ' '))
		reason[--len] = '\0';

	config = CurrentConfig();
	now = GetCurrentTimestamp();
	LocalityInitStatus(&status);
	LWLockAcquire(Breakers->lock, LW_EXCLUSIVE);
	slot = FindSlot(region, true);
	if (slot != NULL)
	{
		locality_breaker_record(&slot->breaker, &config, now, reached ? 1 : 0, reason,
								&status);
		if (reached && rtt_us >= 0)
			slot->rtt_us = rtt_us;
		slot->used_at = now;
	}
	LWLockRelease(Breakers->lock);
	if (!status.ok && slot != NULL)
		elog(LOG, "pg_locality: circuit breaker of region \"%s\" not updated: %s",
			 region, status.message);
}

PG_FUNCTION_INFO_V1(locality_region_status);

/*
 * locality_region_status returns one row per region this database has
 * called since the server started: its breaker as callers meet it now, the
 * last round trip and the last failure (the view locality.region_status
 * adds the regions never called).
 */
Datum
locality_region_status(PG_FUNCTION_ARGS)
{
	LocalityBreakerConfig config = CurrentConfig();
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (Breakers == NULL)
		return (Datum) 0;
	for (i = 0; i < LOCALITY_MAX_BREAKERS; i++)
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
		BreakerSlot copy;
		Datum		values[5];
		bool		nulls[5];

		LWLockAcquire(Breakers->lock, LW_SHARED);
		copy = Breakers->slots[i];
		LWLockRelease(Breakers->lock);
		if (!copy.in_use || copy.dboid != MyDatabaseId)
			continue;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(copy.region);
		values[1] = CStringGetTextDatum(locality_breaker_state_name(
			locality_breaker_state_at(&copy.breaker, &config, now)));
		if (copy.rtt_us >= 0)
			values[2] = Float8GetDatum(copy.rtt_us / 1000.0);
		else
			nulls[2] = true;
		if (copy.breaker.last_failure_at != 0)
		{
			copy.breaker.last_failure[LOCALITY_BREAKER_REASON_LEN - 1] = '\0';
			values[3] = CStringGetTextDatum(copy.breaker.last_failure);
			values[4] = TimestampTzGetDatum(copy.breaker.last_failure_at);
		}
		else
			nulls[3] = nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * LocalityInitBreaker defines the settings and, while preloading,
 * registers the breakers' shared memory.
 */
void
LocalityInitBreaker(void)
{
	DefineCustomIntVariable("locality.breaker_failure_threshold",
							"Consecutive failed calls that open a region's circuit breaker.",
							NULL,
							&LocalityBreakerFailureThreshold,
							3, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("locality.breaker_reset_timeout",
							"Time a region's circuit breaker stays open before one trial call.",
							NULL,
							&LocalityBreakerResetTimeoutMs,
							10000, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("locality.enforce_home_region",
							 "Raise an error instead of making any call to another region.",
							 NULL,
							 &LocalityEnforceHomeRegion,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;
	LocalityShmemArea("pg_locality breakers", sizeof(BreakerShared), (void **) &Breakers);
}
