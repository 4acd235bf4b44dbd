/*
 * module.c -- the extension's entry point: _PG_init registers the settings
 * of SPEC.md section 1 and chains the hooks.
 *
 * pg_locality must be in shared_preload_libraries: its settings are
 * postmaster-level, and later pieces (hooks, shared memory, background
 * workers) can only be set up at server start.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "shim.h"
#include "shim/apply.h"
#include "shim/breaker.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/forward.h"
#include "shim/pending_commits.h"
#include "shim/remote.h"
#include "shim/replication.h"
#include "shim/safety_net.h"
#include "shim/stamps.h"
#include "shim/table_locality.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init registers the settings.  Loaded any other way than preloading
 * (e.g. by CREATE EXTENSION in a server that does not preload it), it only
 * defines the settings so the 55000 check at CREATE EXTENSION can say what
 * to change.
 */
void
_PG_init(void)
{
	LocalityDefineGatewayGucs();
	LocalityInitCatalog();
	LocalityInitRemote();
	LocalityInitDistXact();
	LocalityInitBreaker();
	LocalityInitSafetyNet();
	LocalityInitStamps();

	if (!process_shared_preload_libraries_in_progress)
		return;

	LocalityReplicationShmemRequest();
	LocalityRegisterLauncher();
	LocalityInitDdl();
	LocalityInitStaleness();
	LocalityInitForward();
	LocalityInitPendingCommits();
	LocalityInitApply();
	/* Last: it drops every "locality." setting of postgresql.conf not defined by now. */
	MarkGUCPrefixReserved("locality");
}
