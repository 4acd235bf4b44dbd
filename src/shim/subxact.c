/*
 * subxact.c -- run a step in an internal subtransaction and keep going if
 * it fails: the background workers' housekeeping (dropping a slot,
 * resolving in-doubt transactions) and DROP EXTENSION's clean-up use it,
 * where an error (a region down, a slot in use) is a reason to retry later,
 * not to end the transaction or the worker.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "shim.h"

/*
 * LocalityTryInSubxact runs fn(arg) in a subtransaction; NULL when it
 * returned, else the error's message (allocated in the caller's memory
 * context), with the subtransaction rolled back and the error flushed.
 */
char *
LocalityTryInSubxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *why = NULL;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		why = edata->message;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return why;
}
