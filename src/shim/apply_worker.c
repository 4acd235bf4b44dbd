/*
 * apply_worker.c -- "pg_locality apply": one background worker per
 * (database, source region), started by the database's manager.
 *
 * It streams the source region's changes from a logical slot there (output
 * plugin pg_locality, decoder.c) over the replication protocol, hands every
 * message to apply.c, and reports progress back only for what is durably
 * committed here.  Progress is the replication origin
 * "pg_locality_<source>", advanced inside each applied transaction's own
 * commit, so after a crash of either side streaming resumes exactly after
 * the last applied transaction: nothing lost, nothing applied twice.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/origin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/fmgrprotos.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/apply.h"
#include "shim/catalog.h"
#include "shim/initial_sync.h"
#include "shim/remote.h"
#include "shim/replication.h"

PGDLLEXPORT void LocalityApplyWorkerMain(Datum arg);

/* Feedback at least this often, and when the source asks. */
#define FEEDBACK_INTERVAL_MS 200

static ApplySlot *MySlot = NULL;
static PGconn *Source = NULL;
/* Finds where each message of an XLogData payload ends (protocol version 2). */
static LocalityWireDecoder *Splitter = NULL;
/* The version the current stream's STARTUP announced; 0 before it. */
static int	StreamVersion = 0;
static char *SourceUser = NULL;	/* the role we connect to the source as */

/*
 * Local commit end -> source commit end of recently applied transactions;
 * feedback reports a source position once its local commit is flushed.
 */
typedef struct FlushMapping
{
	XLogRecPtr	local_end;
	XLogRecPtr	source_end;
} FlushMapping;

#define FLUSH_MAP_SIZE 4096
static FlushMapping FlushMap[FLUSH_MAP_SIZE];
static int	FlushMapHead = 0;		/* oldest entry */
static int	FlushMapCount = 0;
static XLogRecPtr FlushedSource = InvalidXLogRecPtr;

/* Forgets the mappings whose local commit is flushed (up to flushed). */
static void
DropFlushed(XLogRecPtr flushed)
{
	while (FlushMapCount > 0 && FlushMap[FlushMapHead].local_end <= flushed)
	{
		FlushedSource = FlushMap[FlushMapHead].source_end;
		FlushMapHead = (FlushMapHead + 1) % FLUSH_MAP_SIZE;
		FlushMapCount--;
	}
}

/*
 * LocalityApplyRecordCommit is called by apply.c after each applied commit.
 */
void
LocalityApplyRecordCommit(XLogRecPtr local_end, XLogRecPtr source_end,
						  TimestampTz source_commit_time)
{
	/*
	 * Full: the map is only trimmed when feedback is due, so a long backlog
	 * fills it every FLUSH_MAP_SIZE transactions.  The walwriter has
	 * usually flushed most of it meanwhile (commits are asynchronous):
	 * forget those first, and flush (wait for the disk) only when that
	 * frees nothing.
	 */
	if (FlushMapCount == FLUSH_MAP_SIZE)
		DropFlushed(GetFlushRecPtr(NULL));
	if (FlushMapCount == FLUSH_MAP_SIZE)
	{
		/* Full: make room by flushing (rare; only under a long backlog). */
		XLogFlush(FlushMap[(FlushMapHead + FlushMapCount - 1) % FLUSH_MAP_SIZE].local_end);
		FlushedSource = FlushMap[(FlushMapHead + FlushMapCount - 1) % FLUSH_MAP_SIZE].source_end;
		FlushMapHead = 0;
		FlushMapCount = 0;
	}
	FlushMap[(FlushMapHead + FlushMapCount) % FLUSH_MAP_SIZE].local_end = local_end;
	FlushMap[(FlushMapHead + FlushMapCount) % FLUSH_MAP_SIZE].source_end = source_end;
	FlushMapCount++;

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	MySlot->applied_lsn = source_end;
	MySlot->processed_lsn = Max(MySlot->processed_lsn, source_end);
	MySlot->last_commit_time = source_commit_time;
	if (MySlot->state == APPLY_ERROR || MySlot->last_error[0] != '\0')
	{
		/* Applying works again: the error is history. */
		MySlot->state = APPLY_STREAMING;
		MySlot->last_error[0] = '\0';
		MySlot->failures = 0;
	}
	LWLockRelease(LocalityReplication->lock);
}

/*
 * The newest source position whose local commit is flushed.  With nothing
 * pending, everything received is done: confirming it lets the source
 * recycle WAL and shut down (its walsender waits for that).
 */
static XLogRecPtr
FlushedSourcePosition(XLogRecPtr received)
{
	DropFlushed(GetFlushRecPtr(NULL));
	if (FlushMapCount == 0 && !IsTransactionState())
		FlushedSource = Max(FlushedSource, received);
	return FlushedSource;
}

static void
put_u64(char *p, uint64 v)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xff);
		v >>= 8;
	}
}

static uint64
get_u64(const char *p)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

/* Sends a standby status update: received, flushed and applied positions. */
static void
SendFeedback(XLogRecPtr received, bool reply_requested)
{
	char		msg[1 + 8 + 8 + 8 + 8 + 1];
	XLogRecPtr	flushed = FlushedSourcePosition(received);

	msg[0] = 'r';
	put_u64(msg + 1, received);
	put_u64(msg + 9, flushed);
	put_u64(msg + 17, flushed);
	put_u64(msg + 25, (uint64) GetCurrentTimestamp());
	msg[33] = reply_requested ? 1 : 0;
	if (PQputCopyData(Source, msg, sizeof(msg)) <= 0 || PQflush(Source) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("region \"%s\" is unavailable", MySlot->region),
				 errdetail_internal("%s", PQerrorMessage(Source))));
}

/* Runs a replication command on the source and returns its result. */
static PGresult *
SourceCommand(const char *sql)
{
	PGresult   *res = PQexec(Source, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_BOTH)
	{
		char	   *msg = pstrdup(PQresultErrorMessage(res));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("replication command failed on region \"%s\"", MySlot->region),
				 errdetail_internal("%s: %s", sql, msg)));
	}
	return res;
}

/* Our replication origin, created on first use; its progress is returned. */
static XLogRecPtr
SetUpOrigin(void)
{
	char		name[NAMEDATALEN + 16];
	RepOriginId origin;
	XLogRecPtr	progress;

	LocalityOriginName(MySlot->region, name, sizeof(name));
	StartTransactionCommand();
	origin = replorigin_by_name(name, true);
	if (origin == InvalidRepOriginId)
		origin = replorigin_create(name);
	CommitTransactionCommand();
	replorigin_session_setup(origin);
	replorigin_session_origin = origin;
	progress = replorigin_session_get_progress(false);
	FlushedSource = progress;
	return progress;
}

/*
 * EnsureSourceSlot creates our slot on the source unless it exists, and
 * copies the managed tables at the snapshot its creation exports, so the
 * stream starting at its consistent point continues the copy exactly.
 */
static void
EnsureSourceSlot(const char *slot_name)
{
	PGresult   *res;
	char	   *sql;

	sql = psprintf("SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = '%s'",
				   slot_name);
	res = SourceCommand(sql);
	if (PQntuples(res) == 0)
	{
		XLogRecPtr	consistent;

		PQclear(res);
		res = SourceCommand(psprintf("CREATE_REPLICATION_SLOT %s LOGICAL pg_locality "
									 "(SNAPSHOT 'export')", slot_name));
		consistent = DatumGetLSN(DirectFunctionCall1(pg_lsn_in,
													 CStringGetDatum(PQgetvalue(res, 0, 1))));
		LocalitySyncAtSlotCreation(PQgetvalue(res, 0, 2), consistent);
	}
	PQclear(res);
}

/* Waits for data from the source or the latch, at most timeout ms. */
static void
WaitForSource(long timeout)
{
	int			rc = WaitLatchOrSocket(MyLatch,
									   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT |
									   WL_EXIT_ON_PM_DEATH,
									   PQsocket(Source), timeout, PG_WAIT_EXTENSION);

	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* True when locality.pause_replication() asked this worker to stop. */
static bool
Paused(void)
{
	bool		paused;

	LWLockAcquire(LocalityReplication->lock, LW_SHARED);
	paused = MySlot->paused;
	LWLockRelease(LocalityReplication->lock);
	return paused;
}

/*
 * True (once) when a waiter asked for processed_lsn to be brought up to
 * date (LocalityRequestKeepalive): the status update then asks the source
 * for a keepalive, whose position becomes processed_lsn.
 */
static bool
ReplyWanted(void)
{
	bool		wanted;

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	wanted = MySlot->reply_wanted;
	MySlot->reply_wanted = false;
	LWLockRelease(LocalityReplication->lock);
	return wanted;
}

/* Shows how far we have received in locality.replication_status. */
static void
PublishReceived(XLogRecPtr received)
{
	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	MySlot->received_lsn = received;
	MySlot->last_message_at = GetCurrentTimestamp();
	LWLockRelease(LocalityReplication->lock);
}

/*
 * ApplyPayload applies the messages of one XLogData payload: one under
 * protocol version 1; under version 2 a sender batches a transaction's
 * messages, back to back (docs/replication-protocol.md).  apply.c decodes
 * each again, strictly; finding its end first costs a walk over its bytes.
 */
static void
ApplyPayload(const char *data, size_t len)
{
	size_t		offset = 0;
	int			count = 0;

	while (offset < len)
	{
		LocalityWireMessage msg;
		LocalityStatus status;
		size_t		used;

		LocalityInitStatus(&status);
		if (!locality_wire_decode_next(Splitter, data + offset, len - offset, &msg, &used, &status))
			LocalityRaiseStatus(&status, NULL);
		if (count > 0 && StreamVersion < LOCALITY_WIRE_VERSION_BATCHED)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("malformed pg_locality replication message"),
					 errdetail("Region \"%s\" sent %zu bytes after the end of a message under protocol version %d, which allows one message per XLogData message.",
							   MySlot->region, len - offset, StreamVersion)));
		if (msg.type == LOCALITY_WIRE_STARTUP)
			StreamVersion = msg.body.startup.version;
		LocalityApplyMessage(data + offset, used);
		offset += used;
		count++;
	}
}

/* Streams and applies until an error or a pause. */
static void
Stream(const LocalityRegion *source, const char *slot_name, XLogRecPtr start)
{
	TimestampTz last_feedback = GetCurrentTimestamp();
	TimestampTz last_sync_check = GetCurrentTimestamp();
	XLogRecPtr	received = start;
	uint64		messages = 0;

	if (Splitter == NULL)
	{
		LocalityStatus status;

		LocalityInitStatus(&status);
		Splitter = locality_wire_decoder_create(&status);
		if (Splitter == NULL)
			LocalityRaiseStatus(&status, NULL);
	}
	StreamVersion = 0;			/* a new session starts with its STARTUP */
	Source = LocalityConnectReplication(source->conninfo, source->name, SourceUser);
	EnsureSourceSlot(slot_name);
	LocalitySyncPending();		/* tables whose copy a crash interrupted */
	PQclear(SourceCommand(psprintf("START_REPLICATION SLOT %s LOGICAL %X/%X "
								   "(\"protocol_version\" '%d', \"min_protocol_version\" '%d')",
								   slot_name, LSN_FORMAT_ARGS(start),
								   LOCALITY_WIRE_VERSION_MAX, LOCALITY_WIRE_VERSION_MIN)));

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	/* Still "error" until a transaction applies after a failure. */
	MySlot->state = MySlot->last_error[0] ? APPLY_ERROR : APPLY_STREAMING;
	LocalityApplyUngroupedBefore(MySlot->ungrouped_before);
	LWLockRelease(LocalityReplication->lock);

	for (;;)
	{
		char	   *buf = NULL;
		int			len = PQgetCopyData(Source, &buf, 1);

		if (len > 0)
		{
			/* Only a transaction's payload may join the open group. */
			if (buf[0] != 'w')
				LocalityApplyCommitGroup();
			if (buf[0] == 'w' && len >= 25)
			{
				XLogRecPtr	start_lsn = get_u64(buf + 1);
				XLogRecPtr	end_lsn = get_u64(buf + 9);

				received = Max(received, Max(start_lsn, end_lsn));
				ApplyPayload(buf + 25, len - 25);
			}
			else if (buf[0] == 'k' && len >= 18)
			{
				XLogRecPtr	wal_end = get_u64(buf + 1);
				bool		reply = buf[17] != 0;

				received = Max(received, wal_end);
				LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
				MySlot->source_lsn = wal_end;
				/* Between transactions, all the source sent so far is applied. */
				if (!IsTransactionState())
				{
					MySlot->processed_lsn = Max(MySlot->processed_lsn, wal_end);
					MySlot->caught_up_at = GetCurrentTimestamp();
				}
				LWLockRelease(LocalityReplication->lock);
				if (reply)
				{
					SendFeedback(received, false);
					last_feedback = GetCurrentTimestamp();
				}
			}
			PQfreemem(buf);
			/* Status and feedback every so many messages, not every one. */
			if (++messages % 256 == 0)
			{
				LocalityApplyCommitGroup();
				PublishReceived(received);
				if (!IsTransactionState() && Paused())
					return;
				if (!IsTransactionState() &&
					TimestampDifferenceExceeds(last_feedback, GetCurrentTimestamp(),
											   FEEDBACK_INTERVAL_MS))
				{
					SendFeedback(received, true);
					last_feedback = GetCurrentTimestamp();
				}
			}
			continue;
		}
		/* Nothing more buffered: what was applied is committed before any wait. */
		LocalityApplyCommitGroup();
		PublishReceived(received);
		if (len == -1 || len == -2)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("region \"%s\" is unavailable", source->name),
					 errdetail_internal("replication stream ended: %s", PQerrorMessage(Source))));

		/* No complete message buffered: report progress, then wait. */
		if (!IsTransactionState() &&
			(ReplyWanted() ||
			 TimestampDifferenceExceeds(last_feedback, GetCurrentTimestamp(), FEEDBACK_INTERVAL_MS)))
		{
			/* Ask for a keepalive so processed_lsn keeps up when idle. */
			SendFeedback(received, true);
			last_feedback = GetCurrentTimestamp();
		}
		if (!IsTransactionState() && Paused())
			return;
		/* Tables that became managed since: copy them now. */
		if (!IsTransactionState() &&
			TimestampDifferenceExceeds(last_sync_check, GetCurrentTimestamp(), 1000))
		{
			LocalitySyncPending();
			last_sync_check = GetCurrentTimestamp();
		}
		WaitForSource(FEEDBACK_INTERVAL_MS);
		if (!IsTransactionState() && Paused())
			return;
		if (PQconsumeInput(Source) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("region \"%s\" is unavailable", source->name),
					 errdetail_internal("%s", PQerrorMessage(Source))));
	}
}

/*
 * StreamOrRetry runs Stream until a pause (true).  A copy that gave way to
 * a lock, or a change that needs its table copied first (initial_sync.c),
 * ends it too: the transaction is aborted, the source hung up (its cursor,
 * snapshot and temporary slot go with the connections), and after a
 * backoff false is returned, for the caller to stream again from the
 * origin's progress.  Other errors propagate.
 */
static bool
StreamOrRetry(const LocalityRegion *source, const char *slot_name, XLogRecPtr start)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *edata = NULL;
	int			delay = -1;

	PG_TRY();
	{
		Stream(source, slot_name, start);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		delay = LocalitySyncRetryDelay(edata);
		if (delay < 0)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();
	if (edata == NULL)
		return true;

	AbortCurrentTransaction();
	if (Source)
		PQfinish(Source);
	Source = NULL;
	ereport(LOG,
			(errmsg("pg_locality apply from region \"%s\": %s", source->name, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 errhint("Streaming starts again in %d ms.", delay)));
	FreeErrorData(edata);
	LocalitySyncAfterRetry();
	if (delay > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 delay, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/* Clears our pid from the slot when the worker exits. */
static void
DetachSlot(int code, Datum arg)
{
	if (Source)
		PQfinish(Source);
	Source = NULL;
	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	MySlot->pid = 0;
	MySlot->latch = NULL;
	if (MySlot->state != APPLY_ERROR)
		MySlot->state = MySlot->paused ? APPLY_PAUSED : APPLY_STOPPED;
	LWLockRelease(LocalityReplication->lock);
}

/* Records error in the slot and schedules a retry with backoff. */
static void
RecordError(ErrorData *edata)
{
	TimestampTz now = GetCurrentTimestamp();
	int			backoff_ms;

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	MySlot->failures++;
	backoff_ms = Min(1000 << Min(MySlot->failures - 1, 6), 60000);
	snprintf(MySlot->last_error, sizeof(MySlot->last_error), "%s%s%s",
			 edata->message ? edata->message : "unknown error",
			 edata->detail ? ": " : "", edata->detail ? edata->detail : "");
	MySlot->last_error_at = now;
	/* The transactions before the failing one are then committed alone. */
	MySlot->ungrouped_before = Max(MySlot->ungrouped_before, LocalityApplyFailingLsn());
	MySlot->retry_after = TimestampTzPlusMilliseconds(now, backoff_ms);
	MySlot->state = APPLY_ERROR;
	LWLockRelease(LocalityReplication->lock);
}

/*
 * LocalityApplyWorkerMain is the worker's entry point; arg is its slot
 * index.  On error it records the error, and exits for the manager to
 * restart it after a backoff.
 */
void
LocalityApplyWorkerMain(Datum arg)
{
	int			index = DatumGetInt32(arg);
	LocalityRegion source;
	char		slot_name[NAMEDATALEN];
	XLogRecPtr	start;
	MemoryContext cxt;

	MySlot = &LocalityReplication->slots[index];
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(MySlot->dboid, InvalidOid, 0);

	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	MySlot->pid = MyProcPid;
	MySlot->latch = MyLatch;
	MySlot->state = APPLY_STARTING;
	LWLockRelease(LocalityReplication->lock);
	before_shmem_exit(DetachSlot, (Datum) 0);

	cxt = AllocSetContextCreate(TopMemoryContext, "pg_locality apply worker",
								ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		const LocalityRegion *found;
		const LocalityRegion *local;
		MemoryContext old;

		/* Apply as PostgreSQL's own apply does: no user triggers, safe path. */
		SetConfigOption("session_replication_role", "replica", PGC_SUSET, PGC_S_OVERRIDE);
		SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

		StartTransactionCommand();
		found = LocalityFindRegionById(MySlot->region_id);
		local = LocalityLocalRegion();
		if (found == NULL)
			ereport(ERROR,
					(errmsg("region %d is no longer in the catalog", MySlot->region_id)));
		old = MemoryContextSwitchTo(cxt);
		source = *found;
		source.conninfo = pstrdup(found->conninfo);
		SourceUser = GetUserNameFromId(GetUserId(), false);
		MemoryContextSwitchTo(old);
		LocalitySlotName(local->id, MyDatabaseId, slot_name, sizeof(slot_name));
		CommitTransactionCommand();

		start = SetUpOrigin();
		LocalityApplyInit(&source);
		StartTransactionCommand();
		LocalitySyncInit(&source, SourceUser, MySlot);
		CommitTransactionCommand();
		for (;;)
		{
			if (!StreamOrRetry(&source, slot_name, start))
			{
				start = replorigin_session_get_progress(false);
				continue;
			}

			/* Paused: hang up (the source keeps the changes) until resumed. */
			PQfinish(Source);
			Source = NULL;
			LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
			MySlot->state = APPLY_PAUSED;
			LWLockRelease(LocalityReplication->lock);
			while (Paused())
			{
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 1000L, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			start = replorigin_session_get_progress(false);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		RecordError(edata);
		PG_RE_THROW();
	}
	PG_END_TRY();
	proc_exit(0);
}
