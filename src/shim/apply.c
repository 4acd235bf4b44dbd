/*
 * apply.c -- applies one source region's decoded changes here, with
 * PostgreSQL's own machinery (ExecSimpleRelationInsert/Update/Delete and
 * the replica identity index lookup), as the apply worker hands them over.
 *
 * Relations are mapped by schema-qualified name and columns by name, so
 * column order may differ between regions; a column missing here is an
 * error (reported in last_error, retried), a column only here gets its
 * default.  Each source transaction is applied in one local transaction
 * (shared, under a backlog, with the next ones of the same millisecond:
 * grouped commits) whose commit also advances the replication origin
 * (exactly once).
 * Conflicts (insert_exists, update_origin_differs, update_missing,
 * delete_missing, ...) are decided by the core's causal last-write-wins
 * (Decide, with the stamps and tombstones of src/shim/stamps.c and tombstones.c), carried
 * out column by column, and logged in locality.conflicts.
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/tableam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/tablecmds.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "replication/origin.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "shim.h"
#include "shim/apply.h"
#include "shim/catalog.h"
#include "shim/column_versions.h"
#include "shim/crdt.h"
#include "shim/hlc_clock.h"
#include "shim/initial_sync.h"
#include "shim/merge_function.h"
#include "shim/pending_commits.h"
#include "shim/replication.h"
#include "shim/stamps.h"
#include "shim/tombstones.h"

/* A source relation, mapped to the local one. */
typedef struct RelationMapEntry
{
	uint32		remote_relid;	/* hash key */
	char	   *schema;
	char	   *table;
	int			natts;			/* remote columns */
	char	  **attnames;
	Oid			local_relid;	/* InvalidOid until resolved */
	AttrNumber *attmap;			/* remote column i -> local attnum */
	FmgrInfo   *input;			/* remote column i: local type's input function */
	Oid		   *ioparam;
	bool		stale;			/* the local relation changed: map again */
} RelationMapEntry;

static LocalityRegion Source;
static LocalityWireDecoder *Decoder = NULL;
static HTAB *RelationMap = NULL;
static MemoryContext ApplyContext = NULL;	/* per message, reset after each */
/*
 * Per copied row, reset after each.  Not ApplyContext: a copy can start
 * while a streamed message is being applied (a table managed later), and
 * that message lives in ApplyContext.
 */
static MemoryContext CopyRowContext = NULL;
static TimestampTz RemoteCommitTime = 0;
static LocalityHlcStamp RemoteStamp;	/* of the transaction being applied */
static XLogRecPtr RemoteCommitLsn = InvalidXLogRecPtr;
static TransactionId RemoteXid = InvalidTransactionId;	/* at the source */
static bool Copying = false;	/* rows come from initial sync, not the stream */

/*
 * Grouped commits.  Under a backlog, consecutive source transactions whose
 * derived stamps are equal (committed at the source in the same millisecond)
 * are applied in one local transaction, committed once: the commit, its
 * WAL record and the origin update are paid once per group instead of once
 * per source transaction.  Nothing a conflict decision reads changes: the
 * local commit records the last member's commit time and the same origin,
 * so every row the group wrote has the stamp each member would have given
 * it (docs/conflicts.md section 8, "grouped commits").  The group is
 * committed as soon as the next source transaction's stamp differs, or the
 * worker has no complete message buffered (LocalityApplyCommitGroup), so
 * nothing waits for later data.  An abort drops the whole group; streaming
 * restarts at the origin's progress, before it (exactly once).
 */
#define MAX_GROUP_SIZE 1024
static int	GroupSizeLimit = 64;	/* locality.apply_group_size; 1: off */
static int	GroupSize = 0;		/* source transactions applied, not committed */
static TransactionId GroupXids[MAX_GROUP_SIZE];
static XLogRecPtr GroupEndLsn = InvalidXLogRecPtr;	/* the last member's */
static TimestampTz GroupCommitTime = 0;
static LocalityHlcStamp GroupStamp;
static bool GroupDerived = false;	/* the members' stamps are derived */
static bool RemoteDerived = false;	/* RemoteStamp is derived from its commit time */
static bool InMember = false;	/* between a source transaction's BEGIN and COMMIT */
/* After an apply error: transactions before the one that failed commit alone. */
static XLogRecPtr UngroupedBefore = InvalidXLogRecPtr;

static MemoryContext ExecStateContext = NULL;	/* parent of the kept EStates */

static void ExecStateChanged(Oid relid);
static void ApplyXactCallback(XactEvent event, void *arg);

/*
 * LocalRelationChanged marks the column mapping of relations mapped to
 * relid (or all, for InvalidOid) stale: a local rename or drop must be seen.
 */
static void
LocalRelationChanged(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	RelationMapEntry *entry;

	if (RelationMap == NULL)
		return;
	hash_seq_init(&scan, RelationMap);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		/* Only mark: the mapping may be in use right now (OpenMapped rebuilds). */
		if (!OidIsValid(relid) || entry->local_relid == relid)
			entry->stale = true;
	}
	ExecStateChanged(relid);
}

/*
 * LocalityApplyInit prepares applying source's stream.
 */
void
LocalityApplyInit(const LocalityRegion *source)
{
	HASHCTL		ctl;
	LocalityStatus status;

	Source = *source;
	Source.conninfo = MemoryContextStrdup(TopMemoryContext, source->conninfo);
	LocalityInitStatus(&status);
	Decoder = locality_wire_decoder_create(&status);
	LocalityRaiseStatus(&status, NULL);

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(RelationMapEntry);
	ctl.hcxt = TopMemoryContext;
	RelationMap = hash_create("pg_locality relation map", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(LocalRelationChanged, (Datum) 0);
	RegisterXactCallback(ApplyXactCallback, NULL);
	ExecStateContext = AllocSetContextCreate(TopMemoryContext, "pg_locality apply executor states",
											 ALLOCSET_DEFAULT_SIZES);
	ApplyContext = AllocSetContextCreate(TopMemoryContext, "pg_locality apply message",
										 ALLOCSET_DEFAULT_SIZES);
	CopyRowContext = AllocSetContextCreate(TopMemoryContext, "pg_locality copied row",
										   ALLOCSET_DEFAULT_SIZES);
}

/* Copies a wire string into a NUL-terminated palloc'd one. */
static char *
WireString(LocalityWireString s)
{
	return pnstrdup(s.data ? s.data : "", s.len);
}

/*
 * LocalityApplyDefineRelation remembers a source relation's name and
 * columns under key; resolution waits for the first change.
 */
void
LocalityApplyDefineRelation(uint32 key, const char *schema, const char *table,
							int natts, char **attnames)
{
	RelationMapEntry *entry;
	bool		found;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	int			i;

	entry = hash_search(RelationMap, &key, HASH_ENTER, &found);
	if (found)
	{
		pfree(entry->schema);
		pfree(entry->table);
		for (i = 0; i < entry->natts; i++)
			pfree(entry->attnames[i]);
		pfree(entry->attnames);
		if (entry->attmap)
		{
			pfree(entry->attmap);
			pfree(entry->input);
			pfree(entry->ioparam);
		}
	}
	entry->schema = pstrdup(schema);
	entry->table = pstrdup(table);
	entry->natts = natts;
	entry->attnames = palloc(sizeof(char *) * Max(natts, 1));
	for (i = 0; i < natts; i++)
		entry->attnames[i] = pstrdup(attnames[i]);
	entry->local_relid = InvalidOid;
	entry->attmap = NULL;
	entry->stale = false;
	MemoryContextSwitchTo(old);
}

/* A RELATION message: names copied out of the message buffer. */
static void
HandleRelation(const LocalityWireRelation *rel)
{
	char	  **names = palloc(sizeof(char *) * Max(rel->natts, 1));
	int			i;

	for (i = 0; i < rel->natts; i++)
		names[i] = WireString(rel->attrs[i].name);
	LocalityApplyDefineRelation(rel->relid, WireString(rel->schema), WireString(rel->table),
								rel->natts, names);
}

/*
 * OpenMapped opens the local relation of a source relid (RowExclusiveLock),
 * resolving names on first use.  A table or column missing here is an error
 * naming it: the change is not skipped; the worker retries until the DBA
 * fixes the schema.
 */
static Relation
OpenMapped(uint32 remote_relid, RelationMapEntry **entry_out)
{
	RelationMapEntry *entry = hash_search(RelationMap, &remote_relid, HASH_FIND, NULL);
	Relation	rel;
	TupleDesc	desc;
	int			i;

	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("region \"%s\" sent a change for unknown relation %u",
						Source.name, remote_relid)));
	/*
	 * Map by name; the lock taken by table_open processes invalidations, so
	 * a local schema change seen then makes us map again.
	 */
	for (;;)
	{
		if (entry->stale)
		{
			if (entry->attmap != NULL)
			{
				pfree(entry->attmap);
				pfree(entry->input);
				pfree(entry->ioparam);
			}
			entry->attmap = NULL;
			entry->local_relid = InvalidOid;
			entry->stale = false;
		}
		if (!OidIsValid(entry->local_relid))
		{
			Oid			nsp = get_namespace_oid(entry->schema, true);
			Oid			relid = OidIsValid(nsp) ? get_relname_relid(entry->table, nsp) : InvalidOid;

			if (!OidIsValid(relid))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("table \"%s.%s\" replicated from region \"%s\" does not exist here",
								entry->schema, entry->table, Source.name)));
			entry->local_relid = relid;
		}
		/* Part of a table's initial copy already?  Then it is not applied again. */
		if (!Copying && LocalitySyncSkip(entry->local_relid, RemoteCommitLsn))
		{
			*entry_out = entry;
			return NULL;
		}
		rel = table_open(entry->local_relid, RowExclusiveLock);
		if (!entry->stale)
			break;
		table_close(rel, NoLock);
	}
	desc = RelationGetDescr(rel);
	if (entry->attmap == NULL)
	{
		AttrNumber *map = MemoryContextAlloc(TopMemoryContext,
											 sizeof(AttrNumber) * Max(entry->natts, 1));
		FmgrInfo   *input = MemoryContextAlloc(TopMemoryContext,
											   sizeof(FmgrInfo) * Max(entry->natts, 1));
		Oid		   *ioparam = MemoryContextAlloc(TopMemoryContext,
												 sizeof(Oid) * Max(entry->natts, 1));

		for (i = 0; i < entry->natts; i++)
		{
			AttrNumber attnum = get_attnum(RelationGetRelid(rel), entry->attnames[i]);

			if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->attisdropped)
			{
				pfree(map);
				pfree(input);
				pfree(ioparam);
				table_close(rel, RowExclusiveLock);
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of table \"%s.%s\" replicated from region \"%s\" "
								"does not exist here",
								entry->attnames[i], entry->schema, entry->table, Source.name)));
			}
			map[i] = attnum;
			{
				Oid			func;

				/* Looked up once per relation, not per value. */
				getTypeInputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &func, &ioparam[i]);
				fmgr_info_cxt(func, &input[i], TopMemoryContext);
			}
		}
		entry->attmap = map;
		entry->input = input;
		entry->ioparam = ioparam;
	}
	*entry_out = entry;
	return rel;
}

/*
 * FillSlot stores a wire tuple into slot (rel's row type).  Columns the
 * source did not send get their default when fill_defaults, else stay as
 * they are; 'u' (unchanged TOAST) columns keep the slot's current value.
 * With parsed (a slot already filled from the same wire tuple), sent
 * values are taken from it instead of being parsed again.
 */
static void
FillSlot(TupleTableSlot *slot, Relation rel, RelationMapEntry *entry,
		 const LocalityWireTuple *tuple, EState *estate, bool fill_defaults,
		 TupleTableSlot *parsed)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool	   *sent = palloc0(sizeof(bool) * desc->natts);
	int			i;

	/* The caller has set tts_values/tts_isnull of the cleared slot. */
	if (tuple->natts != entry->natts)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("region \"%s\" sent %d columns for \"%s.%s\", expected %d",
						Source.name, tuple->natts, entry->schema, entry->table, entry->natts)));
	for (i = 0; i < tuple->natts; i++)
	{
		const LocalityWireColumn *col = &tuple->columns[i];
		int			att = entry->attmap[i] - 1;
		Form_pg_attribute attr = TupleDescAttr(desc, att);

		sent[att] = true;
		/* Parsed already (the same wire tuple, into another slot)? */
		if (parsed != NULL && col->kind != LOCALITY_WIRE_COLUMN_UNCHANGED)
		{
			slot->tts_values[att] = parsed->tts_values[att];
			slot->tts_isnull[att] = parsed->tts_isnull[att];
			continue;
		}
		switch (col->kind)
		{
			case LOCALITY_WIRE_COLUMN_NULL:
				slot->tts_values[att] = (Datum) 0;
				slot->tts_isnull[att] = true;
				break;
			case LOCALITY_WIRE_COLUMN_UNCHANGED:
				break;			/* keep the local value */
			case LOCALITY_WIRE_COLUMN_TEXT:
				{
					char	   *text = pnstrdup(col->data, col->len);

					slot->tts_values[att] = InputFunctionCall(&entry->input[i], text,
															  entry->ioparam[i],
															  attr->atttypmod);
					slot->tts_isnull[att] = false;
					break;
				}
			case LOCALITY_WIRE_COLUMN_BINARY:
				{
					Oid			recv;
					Oid			ioparam;
					StringInfoData buf;

					getTypeBinaryInputInfo(attr->atttypid, &recv, &ioparam);
					initStringInfo(&buf);
					appendBinaryStringInfo(&buf, col->data, col->len);
					slot->tts_values[att] = OidReceiveFunctionCall(recv, &buf, ioparam,
																   attr->atttypmod);
					slot->tts_isnull[att] = false;
					break;
				}
		}
	}

	/* Columns only this region has: their default, as an INSERT would. */
	for (i = 0; fill_defaults && i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		Expr	   *def;

		if (sent[i] || attr->attisdropped || attr->attgenerated)
			continue;
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
		def = (Expr *) build_column_default(rel, i + 1);
		if (def != NULL)
		{
			ExprState  *state = ExecInitExpr(expression_planner(def), NULL);

			slot->tts_values[i] = ExecEvalExpr(state, GetPerTupleExprContext(estate),
											   &slot->tts_isnull[i]);
		}
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * FreshSnapshot replaces the change's active snapshot (pushed by the caller
 * of ApplyInsert/Update/Delete) by a new one.  Another apply worker (two
 * source regions apply into the same table at once) may have committed the
 * row version found and locked, or deleted the row, after the message's
 * snapshot was taken: the stamps, kept row stamps, column versions and
 * tombstones read next must be those that transaction committed with it,
 * else a row rewritten by a losing change looks stamped with that change.
 */
static void
FreshSnapshot(void)
{
	PopActiveSnapshot();
	PushActiveSnapshot(GetLatestSnapshot());
}

/*
 * The local row matching the key columns of search, locked (its latest
 * version: the search waits for the transactions writing it); false if
 * none.  Then a fresh snapshot, consistent with the row locked.
 */
static bool
FindLocalRow(Relation rel, TupleTableSlot *search, TupleTableSlot *found)
{
	Oid			index = RelationGetReplicaIndex(rel);
	bool		ok;

	if (OidIsValid(index))
		ok = RelationFindReplTupleByIndex(rel, index, LockTupleExclusive, search, found);
	else if (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		ok = RelationFindReplTupleSeq(rel, LockTupleExclusive, search, found);
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key or replica identity",
						RelationGetRelationName(rel))));
	FreshSnapshot();
	return ok;
}

/* A row as jsonb text: {"col": "text value", ...}; NULL for no row. */
static char *
RowAsJson(TupleTableSlot *slot)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	StringInfoData buf;
	int			i;
	bool		first = true;

	if (slot == NULL || TTS_EMPTY(slot))
		return NULL;
	slot_getallattrs(slot);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		escape_json(&buf, NameStr(attr->attname));
		appendStringInfoString(&buf, ": ");
		if (slot->tts_isnull[i])
			appendStringInfoString(&buf, "null");
		else
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(attr->atttypid, &output, &varlena);
			escape_json(&buf, OidOutputFunctionCall(output, slot->tts_values[i]));
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * LocalRowOrigin: commit time and replication origin of the transaction
 * that wrote the local row in slot (false when unknown: frozen or older
 * than track_commit_timestamp).  A row this transaction wrote (an earlier
 * change of the source transaction or of its group) has the ones it will
 * commit with: so it is judged as it would be once committed.
 */
static bool
LocalRowOrigin(TupleTableSlot *slot, TimestampTz *ts, RepOriginId *origin)
{
	TransactionId xmin;
	bool		isnull;

	xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull));
	if (isnull || !TransactionIdIsNormal(xmin))
		return false;
	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		*ts = RemoteCommitTime;
		*origin = replorigin_session_origin;
		return true;
	}
	return TransactionIdGetCommitTsData(xmin, ts, origin);
}

/* True when one of trigdesc's triggers fires under session_replication_role = replica. */
static bool
AnyTriggerFiresOnReplica(TriggerDesc *trigdesc)
{
	int			i;

	for (i = 0; i < trigdesc->numtriggers; i++)
		if (trigdesc->triggers[i].tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			trigdesc->triggers[i].tgenabled == TRIGGER_FIRES_ALWAYS)
			return true;
	return false;
}

/* True when a BEFORE INSERT row trigger of rri's relation fires in the apply worker. */
static bool
BeforeInsertFiresOnReplica(ResultRelInfo *rri)
{
	TriggerDesc *trigdesc = rri->ri_TrigDesc;
	int			i;

	if (trigdesc == NULL || !trigdesc->trig_insert_before_row)
		return false;
	for (i = 0; i < trigdesc->numtriggers; i++)
	{
		Trigger    *trigger = &trigdesc->triggers[i];

		if ((trigger->tgenabled == TRIGGER_FIRES_ON_REPLICA ||
			 trigger->tgenabled == TRIGGER_FIRES_ALWAYS) &&
			TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
			TRIGGER_FOR_INSERT(trigger->tgtype))
			return true;
	}
	return false;
}

/*
 * What applying changes to one relation needs: its executor state
 * (EState, ResultRelInfo, index list, slots).  Open for the whole source
 * transaction (one per relation it touches), so a row costs no executor
 * set-up and no index opening.  Built once and kept across transactions
 * too: a later transaction only locks and opens the relation and its
 * indexes again (ReopenChange).  It is rebuilt when the relation or one of
 * its indexes changes (relcache invalidation: ExecStateChanged), and
 * dropped on abort.  A relation with triggers gets a fresh one per
 * transaction: trigger slots pin the relation's tuple descriptor for the
 * transaction's resource owner.
 */
typedef struct Change
{
	RelationMapEntry *entry;
	Relation	rel;			/* valid while open */
	ResultRelInfo *rri;
	EState	   *estate;			/* everything below lives in its es_query_cxt */
	TupleTableSlot *local;		/* the local row found, if any */
	TupleTableSlot *holder;		/* a row holding a unique value (FindUniqueHolders) */
	TupleTableSlot *search;		/* key of the row to find */
	TupleTableSlot *remote;		/* the row as the source wrote it */
	int		   *crdt_kinds;		/* per column: its LocalityCrdtKind or 0;
								 * NULL when the table has no CRDT column */
	const LocalityWireTuple *parsed_tuple;	/* the wire tuple of this message last */
	TupleTableSlot *parsed_slot;	/* parsed, into this slot */
	Oid			relid;
	TupleDesc	reldesc;		/* the relcache's descriptor it was built for */
	Oid		   *index_oids;		/* rri->ri_NumIndices */
	bool		open;			/* in the current transaction */
	bool		keep;			/* may be kept after the transaction */
	bool		stale;			/* relation or an index changed: rebuild */
} Change;

#define MAX_OPEN_CHANGES 16
static Change Changes[MAX_OPEN_CHANGES];	/* open ones and kept ones */
static int	NumChanges = 0;
static int	NumOpenChanges = 0;

/*
 * Remote INSERTs into one GLOBAL table whose tombstone check is deferred
 * (InsertRowChecked): the TIDs of rows inserted into the open change of
 * PendingRelid (remote relation PendingRemoteRelid) in this transaction,
 * checked together by CheckPendingInserts before any other change is
 * applied, before the commit, and when MAX_PENDING_INSERTS are waiting.
 */
#define MAX_PENDING_INSERTS 4096
static ItemPointerData PendingInserts[MAX_PENDING_INSERTS];
static int	NumPendingInserts = 0;
static Oid	PendingRelid = InvalidOid;
static uint32 PendingRemoteRelid = 0;

static void CheckPendingInserts(void);

/*
 * ExecStateChanged: relcache invalidation of relid (InvalidOid: all) marks
 * the executor states built on it, or on one of its indexes, stale.
 */
static void
ExecStateChanged(Oid relid)
{
	int			i;
	int			j;

	for (i = 0; i < NumChanges; i++)
	{
		Change	   *change = &Changes[i];

		if (!OidIsValid(relid) || change->relid == relid)
			change->stale = true;
		for (j = 0; j < change->rri->ri_NumIndices && !change->stale; j++)
			change->stale = change->index_oids[j] == relid;
	}
}

/*
 * DropChange frees Changes[i]'s executor state and removes it.  Its slots
 * are emptied first unless the transaction aborted (the resource owner
 * has released their buffer pins already).
 */
static void
DropChange(int i, bool aborted)
{
	if (!aborted)
		ExecResetTupleTable(Changes[i].estate->es_tupleTable, false);
	FreeExecutorState(Changes[i].estate);
	Changes[i] = Changes[--NumChanges];
}

/* An abort leaves no executor state behind: relations and pins are gone. */
static void
ApplyXactCallback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	while (NumChanges > 0)
		DropChange(NumChanges - 1, true);
	NumOpenChanges = 0;
	NumPendingInserts = 0;
	GroupSize = 0;				/* streamed again from the origin's progress */
	InMember = false;
}

/*
 * BuildChange sets up change for rel (opened and locked by the caller), as
 * PostgreSQL's apply worker builds its executor state.
 */
static void
BuildChange(Change *change, Relation rel)
{
	MemoryContext old = MemoryContextSwitchTo(ExecStateContext);
	EState	   *estate = CreateExecutorState();
	RangeTblEntry *rte;
	TupleDesc	desc;
	int			i;

	MemoryContextSwitchTo(estate->es_query_cxt);
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;
	ExecInitRangeTable(estate, list_make1(rte));
	change->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(change->rri, rel, 1, NULL, 0);
	ExecOpenIndices(change->rri, false);
	change->estate = estate;
	change->rel = rel;
	change->relid = RelationGetRelid(rel);
	change->reldesc = RelationGetDescr(rel);
	change->index_oids = palloc(sizeof(Oid) * Max(change->rri->ri_NumIndices, 1));
	for (i = 0; i < change->rri->ri_NumIndices; i++)
		change->index_oids[i] = RelationGetRelid(change->rri->ri_IndexRelationDescs[i]);
	/*
	 * Triggers enabled only for origin sessions never fire here (the worker
	 * runs as session_replication_role = replica), like the internal ones
	 * every GLOBAL table has (global_triggers.c): leave them out, so such a table's
	 * state is kept too.
	 */
	if (change->rri->ri_TrigDesc != NULL && !AnyTriggerFiresOnReplica(change->rri->ri_TrigDesc))
		change->rri->ri_TrigDesc = NULL;
	change->keep = change->rri->ri_TrigDesc == NULL;
	change->stale = false;

	/*
	 * A kept state's slots must not pin the relcache's descriptor (a pin
	 * belongs to the transaction): they get a copy, with the defaults of
	 * columns added later (attmissing), which deforming needs.
	 */
	desc = change->keep ? CreateTupleDescCopyConstr(RelationGetDescr(rel)) : RelationGetDescr(rel);
	change->local = MakeTupleTableSlot(desc, table_slot_callbacks(rel));
	estate->es_tupleTable = lappend(estate->es_tupleTable, change->local);
	change->holder = MakeTupleTableSlot(desc, table_slot_callbacks(rel));
	estate->es_tupleTable = lappend(estate->es_tupleTable, change->holder);
	change->search = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	change->remote = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	change->crdt_kinds = NULL;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		int			kind = attr->attisdropped ? 0 : LocalityCrdtKindOfType(attr->atttypid);

		if (kind == 0)
			continue;
		if (change->crdt_kinds == NULL)
			change->crdt_kinds = palloc0(sizeof(int) * desc->natts);
		change->crdt_kinds[i] = kind;
	}
	MemoryContextSwitchTo(old);
}

/*
 * ReopenChange makes a state kept from an earlier transaction usable with
 * rel, just opened and locked: it opens (and locks) the indexes again.
 * False when the state is out of date (the caller rebuilds it); locking
 * processes invalidations, hence the checks after each lock.
 */
static bool
ReopenChange(Change *change, Relation rel)
{
	int			i;

	if (change->stale || change->rel != rel || change->reldesc != RelationGetDescr(rel))
		return false;
	for (i = 0; i < change->rri->ri_NumIndices; i++)
		change->rri->ri_IndexRelationDescs[i] = index_open(change->index_oids[i], RowExclusiveLock);
	if (change->stale)
	{
		ExecCloseIndices(change->rri);
		return false;
	}
	return true;
}

/*
 * CloseChange ends change's use in the transaction: empties its slots
 * (their buffer pins), closes its indexes and relation, and frees the state
 * unless it can be kept.
 */
static void
CloseChange(int i)
{
	Change	   *change = &Changes[i];
	ListCell   *lc;

	foreach(lc, change->estate->es_tupleTable)
		ExecClearTuple((TupleTableSlot *) lfirst(lc));
	ExecCloseIndices(change->rri);
	table_close(change->rel, NoLock);
	change->open = false;
	if (!change->keep || change->stale)
		DropChange(i, false);
}

/*
 * FinishChanges ends the open changes of the transaction: fires queued
 * AFTER triggers, closes indexes and relations (the executor states are
 * kept for the next transaction).  Before commit, and before anything that
 * needs the relations closed (TRUNCATE).
 */
static void
FinishChanges(void)
{
	int			i;

	CheckPendingInserts();
	if (NumOpenChanges == 0)
		return;
	for (i = 0; !Changes[i].open; i++)
		;
	AfterTriggerEndQuery(Changes[i].estate);
	/* Relations the triggers opened: closed, and that state not kept. */
	if (Changes[i].estate->es_trig_target_relations != NIL)
	{
		ExecCloseResultRelations(Changes[i].estate);
		Changes[i].keep = false;
	}
	for (i = NumChanges - 1; i >= 0; i--)
	{
		if (Changes[i].open)
			CloseChange(i);
	}
	NumOpenChanges = 0;
}

/*
 * LocalityApplyFinish ends the open changes before the caller commits a
 * transaction it applied rows in (initial sync).
 */
void
LocalityApplyFinish(void)
{
	FinishChanges();
}

/* The open change of local relid, or NULL. */
static Change *
FindOpenChange(Oid relid)
{
	int			i;

	for (i = 0; i < NumChanges; i++)
	{
		if (Changes[i].open && Changes[i].relid == relid)
			return &Changes[i];
	}
	return NULL;
}

/* A change, open or not, is applied as its own command. */
static Change *
UseChange(Change *change, RelationMapEntry *entry)
{
	change->entry = entry;
	change->parsed_tuple = NULL;	/* the message's tuples are new */
	ResetPerTupleExprContext(change->estate);
	/* Each change is its own command: it sees and may change earlier ones. */
	change->estate->es_output_cid = GetCurrentCommandId(true);
	return change;
}

/*
 * BeginChange returns the open change of remote_relid's local relation,
 * opening it on first use in the transaction (reusing the executor state
 * kept from an earlier transaction when it is still valid); NULL when the
 * change is already part of the table's initial copy.
 */
static Change *
BeginChange(uint32 remote_relid)
{
	RelationMapEntry *entry = hash_search(RelationMap, &remote_relid, HASH_FIND, NULL);
	Relation	rel;
	Change	   *change;
	int			i;

	/* Already open in this transaction: no lock, no mapping work. */
	if (entry != NULL && !entry->stale && entry->attmap != NULL &&
		FindOpenChange(entry->local_relid) != NULL)
	{
		/* (May copy the table, applying its rows: look the change up after.) */
		if (!Copying && LocalitySyncSkip(entry->local_relid, RemoteCommitLsn))
			return NULL;
		if ((change = FindOpenChange(entry->local_relid)) != NULL)
			return UseChange(change, entry);
	}

	rel = OpenMapped(remote_relid, &entry);
	if (rel == NULL)
		return NULL;
	if ((change = FindOpenChange(RelationGetRelid(rel))) != NULL)
	{
		table_close(rel, NoLock);	/* already open, mapped again */
		return UseChange(change, entry);
	}
	if (NumOpenChanges == MAX_OPEN_CHANGES)
		FinishChanges();

	/* Kept from an earlier transaction? */
	change = NULL;
	for (i = 0; i < NumChanges && change == NULL; i++)
	{
		if (Changes[i].relid != RelationGetRelid(rel))
			continue;
		if (ReopenChange(&Changes[i], rel))
			change = &Changes[i];
		else
			DropChange(i, false);
	}
	if (change == NULL)
	{
		Change		built;

		/* Room for a new one: drop a kept one not open now. */
		for (i = NumChanges - 1; NumChanges == MAX_OPEN_CHANGES && i >= 0; i--)
		{
			if (!Changes[i].open)
				DropChange(i, false);
		}
		/* Built aside: invalidations processed meanwhile scan Changes. */
		BuildChange(&built, rel);
		change = &Changes[NumChanges++];
		*change = built;
	}
	change->open = true;
	if (NumOpenChanges++ == 0)
		AfterTriggerBeginQuery();
	return UseChange(change, entry);
}

/*
 * TupleSlot fills slot (change->search or ->remote) with tuple: on top of
 * the values of base when given (unchanged TOAST columns keep them), else of
 * NULLs, with defaults for columns the source did not send when
 * fill_defaults.
 */
static TupleTableSlot *
TupleSlot(Change *change, TupleTableSlot *slot, const LocalityWireTuple *tuple,
		  TupleTableSlot *base, bool fill_defaults)
{
	TupleDesc	desc = RelationGetDescr(change->rel);

	ExecClearTuple(slot);
	if (base != NULL)
	{
		slot_getallattrs(base);
		memcpy(slot->tts_values, base->tts_values, sizeof(Datum) * desc->natts);
		memcpy(slot->tts_isnull, base->tts_isnull, sizeof(bool) * desc->natts);
	}
	else
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	/*
	 * An UPDATE without an old key fills search and then remote from the
	 * same wire tuple: its columns are parsed once.
	 */
	FillSlot(slot, change->rel, change->entry, tuple, change->estate, fill_defaults,
			 change->parsed_tuple == tuple && change->parsed_slot != slot ? change->parsed_slot : NULL);
	change->parsed_tuple = tuple;
	change->parsed_slot = slot;
	return slot;
}

/* True when column i holds the same value in a and b. */
static bool
ColumnEqual(Form_pg_attribute attr, TupleTableSlot *a, TupleTableSlot *b, int i)
{
	if (a->tts_isnull[i] || b->tts_isnull[i])
		return a->tts_isnull[i] && b->tts_isnull[i];
	return datum_image_eq(a->tts_values[i], b->tts_values[i], attr->attbyval, attr->attlen);
}

/* True when column i is merged (a CRDT type or a merge function), never written over. */
static bool
IsMergedColumn(Change *change, FmgrInfo **fns, int i)
{
	return (change->crdt_kinds != NULL && change->crdt_kinds[i] != 0) ||
		(fns != NULL && fns[i] != NULL);
}

/*
 * MergeColumns builds in remote the row to write over the local row found
 * (change->local), per column by choices[i] (a LocalityColumnChoice), or,
 * with choices NULL (no conflict), the remote value.  A merged column (a
 * CRDT type or a merge function, SPEC.md section 5) is merged with the
 * local value whatever the resolution of the other columns; a NULL on
 * either side takes the other.  Returns true when the row changes.
 */
static bool
MergeColumns(Change *change, TupleTableSlot *remote, const uint8 *choices)
{
	TupleDesc	desc = RelationGetDescr(change->rel);
	TupleTableSlot *local = change->local;
	FmgrInfo  **fns = LocalityMergeFunctions(change->rel);
	bool		changed = false;
	int			i;

	slot_getallattrs(local);
	slot_getallattrs(remote);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		bool		merged = IsMergedColumn(change, fns, i);
		int			choice = choices ? choices[i] :
			(merged ? LOCALITY_CHOICE_MERGE : LOCALITY_CHOICE_APPLY_REMOTE);

		if (attr->attisdropped)
			continue;
		if (choice == LOCALITY_CHOICE_KEEP_LOCAL ||
			(choice == LOCALITY_CHOICE_MERGE && remote->tts_isnull[i]))
		{
			remote->tts_values[i] = local->tts_values[i];
			remote->tts_isnull[i] = local->tts_isnull[i];
		}
		else if (choice == LOCALITY_CHOICE_MERGE && merged && !local->tts_isnull[i])
		{
			if (change->crdt_kinds != NULL && change->crdt_kinds[i] != 0)
			{
				bytea	   *mine = (bytea *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(local->tts_values[i]));
				bytea	   *theirs = (bytea *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(remote->tts_values[i]));

				remote->tts_values[i] = PointerGetDatum(LocalityCrdtMerge(change->crdt_kinds[i],
																		   mine, theirs));
			}
			else
			{
				Oid			save_userid;
				int			save_sec_context;

				/* As the table's owner, restricted: not as the apply worker's role. */
				GetUserIdAndSecContext(&save_userid, &save_sec_context);
				SetUserIdAndSecContext(change->rel->rd_rel->relowner,
									   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
									   SECURITY_RESTRICTED_OPERATION);
				remote->tts_values[i] = FunctionCall2Coll(fns[i], attr->attcollation,
														  local->tts_values[i],
														  remote->tts_values[i]);
				SetUserIdAndSecContext(save_userid, save_sec_context);
			}
		}
		if (!changed && !ColumnEqual(attr, local, remote, i))
			changed = true;
	}
	return changed;
}

/* Replaces the local row found with remote. */
static void
UpdateLocalRow(Change *change, TupleTableSlot *remote)
{
	EPQState	epq;

	EvalPlanQualInit(&epq, change->estate, NULL, NIL, -1);
	ExecSimpleRelationUpdate(change->rri, change->estate, &epq, change->local, remote);
	EvalPlanQualEnd(&epq);
}

/* GLOBAL tables keep stamps and tombstones (stamps.c, tombstones.c); other tables do not. */
static bool
IsGlobal(Relation rel)
{
	const LocalityTable *table = LocalityFindTable(RelationGetRelid(rel));

	return table != NULL && table->spec.kind == LOCALITY_GLOBAL;
}

/* A change to a GLOBAL table was applied: the row versions get the remote stamp. */
static void
StampApplied(Change *change)
{
	if (!Copying && IsGlobal(change->rel))
		LocalityStampApplied(RemoteStamp);
}

/* last_write_wins_column on a GLOBAL table: stamps are kept per column. */
static bool
IsColumnMode(Relation rel)
{
	const LocalityTable *table = LocalityFindTable(RelationGetRelid(rel));

	return table != NULL && table->spec.kind == LOCALITY_GLOBAL &&
		strcmp(table->conflict_resolution, "last_write_wins_column") == 0;
}

/* What is local for a conflicting change's key. */
typedef struct LocalSide
{
	int			state;			/* LocalityLocalState */
	LocalityHlcStamp stamp;
	TupleTableSlot *row;		/* LOCALITY_LOCAL_ROW: the row found */
	LocalityHlcStamp *column_stamps;	/* column mode: per column */
	int64	   *column_xids;	/* their writers */
	char	  **tomb_values;	/* column mode, a tombstone: the deleted row's values */
	bytea	  **tomb_crdt;		/* a tombstone: the key's CRDT state it keeps, or NULL */
} LocalSide;

/* The local side of a change whose row was found (change->local). */
static LocalSide
LocalRow(Change *change)
{
	LocalSide	side;

	side.state = LOCALITY_LOCAL_ROW;
	side.row = change->local;
	side.stamp = LocalityRowStamp(change->rel, change->local, IsGlobal(change->rel));
	side.column_stamps = NULL;
	side.column_xids = NULL;
	side.tomb_values = NULL;
	side.tomb_crdt = NULL;
	if (IsColumnMode(change->rel))
	{
		int			natts = RelationGetDescr(change->rel)->natts;

		side.column_stamps = palloc(sizeof(LocalityHlcStamp) * Max(natts, 1));
		side.column_xids = palloc(sizeof(int64) * Max(natts, 1));
		LocalityColumnStamps(change->rel, change->local, side.stamp, side.column_stamps,
							 side.column_xids);
	}
	return side;
}

/* The local side of a change whose row was not found: a tombstone or nothing. */
static LocalSide
LocalMissing(Change *change, TupleTableSlot *key)
{
	LocalSide	side;

	side.row = NULL;
	side.column_stamps = NULL;
	side.column_xids = NULL;
	side.tomb_values = NULL;
	side.tomb_crdt = NULL;
	side.state = LOCALITY_LOCAL_ABSENT;
	side.stamp.hlc = 0;
	side.stamp.region_id = 0;
	if (IsGlobal(change->rel) &&
		LocalityFindTombstone(change->rel, LocalityRowKey(change->rel, key), &side.stamp,
							  &side.tomb_values, &side.column_xids))
	{
		side.state = LOCALITY_LOCAL_TOMBSTONE;
		if (change->crdt_kinds != NULL)
			side.tomb_crdt = LocalityTombstoneCrdt(change->rel, LocalityRowKey(change->rel, key));
		/* Column mode: the deleted row's columns with their stamps (docs/conflicts.md section 4). */
		if (side.tomb_values != NULL)
		{
			int			natts = RelationGetDescr(change->rel)->natts;
			int			i;

			side.column_stamps = palloc(sizeof(LocalityHlcStamp) * Max(natts, 1));
			for (i = 0; i < natts; i++)
				side.column_stamps[i] = LocalityStampOfFullXid(side.column_xids[i]);
		}
	}
	else
		side.column_xids = NULL;
	return side;
}

/*
 * MergeIntoTombstone: column mode, a remote write decided against a
 * tombstone that did not make the row visible again (earlier than the
 * delete): the columns it won still replace those the tombstone keeps
 * (docs/conflicts.md section 4: every column is a register, visible or not),
 * so a later write that brings the row back finds the same columns on every
 * region whatever order the write and the delete arrived in.
 */
static void
MergeIntoTombstone(Change *change, LocalSide *local, TupleTableSlot *remote,
				   const bool *unchanged, const uint8 *choices)
{
	TupleDesc	desc = RelationGetDescr(change->rel);
	int64		me = LocalityCurrentFullXid();
	bool		any = false;
	int			i;

	if (local->state != LOCALITY_LOCAL_TOMBSTONE || local->tomb_values == NULL)
		return;
	slot_getallattrs(remote);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		Oid			output;
		bool		varlena;

		if (attr->attisdropped || choices[i] != LOCALITY_CHOICE_APPLY_REMOTE ||
			(unchanged != NULL && unchanged[i]))
			continue;
		if (remote->tts_isnull[i])
			local->tomb_values[i] = NULL;
		else
		{
			getTypeOutputInfo(attr->atttypid, &output, &varlena);
			local->tomb_values[i] = OidOutputFunctionCall(output, remote->tts_values[i]);
		}
		local->column_xids[i] = me;
		any = true;
	}
	if (!any)
		return;
	LocalityMergeIntoTombstone(change->rel, LocalityRowKey(change->rel, remote),
							   local->tomb_values, local->column_xids);
	StampApplied(change);		/* me's stamp: the remote's */
}

/*
 * LogConflict inserts one row into locality.conflicts: kind, both tuples
 * (jsonb text, NULL for none), both regions, commit timestamps and stamps.
 */
static void
LogConflict(Change *change, const char *kind, const LocalSide *local, const char *local_json,
			const char *remote_json, int resolution)
{
	Relation	rel = change->rel;
	Oid			argtypes[10] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	TimestampTz local_ts;
	RepOriginId local_origin;
	const LocalityRegion *writer = local->stamp.region_id ?
		LocalityFindRegionById((LocalityRegionId) local->stamp.region_id) : NULL;

	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(kind);
	values[2] = CStringGetTextDatum(Source.name);
	if (local_json)
		values[3] = CStringGetTextDatum(local_json);
	else
		nulls[3] = 'n';
	if (remote_json)
		values[4] = CStringGetTextDatum(remote_json);
	else
		nulls[4] = 'n';
	values[5] = TimestampTzGetDatum(RemoteCommitTime);
	if (local->row != NULL && LocalRowOrigin(local->row, &local_ts, &local_origin))
		values[6] = TimestampTzGetDatum(local_ts);
	else
		nulls[6] = 'n';
	values[7] = CStringGetTextDatum(locality_resolution_name(resolution));
	/* Stamps: the remote's in $9 and the local side's in $10 (as text: NULL when none). */
	values[8] = Int64GetDatum((int64) RemoteStamp.hlc);
	if (local->state != LOCALITY_LOCAL_ABSENT)
		values[9] = CStringGetTextDatum(psprintf(INT64_FORMAT, (int64) local->stamp.hlc));
	else
		nulls[9] = 'n';
	SPI_connect();
	if (SPI_execute_with_args(psprintf("INSERT INTO locality.conflicts "
									   "(table_name, kind, resolution, local_region, remote_region, "
									   " local_tuple, remote_tuple, remote_commit_ts, local_commit_ts, "
									   " remote_hlc, local_hlc) "
									   "VALUES ($1::pg_catalog.regclass, $2, $8, %s, $3, "
									   "        $4::pg_catalog.jsonb, $5::pg_catalog.jsonb, $6, $7, "
									   "        $9, $10::pg_catalog.int8)",
									   writer ? quote_literal_cstr(writer->name) :
									   "pg_catalog.current_setting('locality.region')"),
							  10, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not log a conflict");
	SPI_finish();
}

/*
 * RowAfterTombstoneLock: no local row matches key.  When the key has a
 * tombstone, its row is locked (until this transaction ends) before
 * deciding, so two apply workers never decide on the same absent key from
 * the same stale view (one bringing the row back while the other records a
 * later delete or merges into the tombstone); then the row is looked for
 * again, since another worker may have brought it back meanwhile.  True
 * when it is there now (found and locked in change->local, with a fresh
 * snapshot either way).  A key without a tombstone has nothing to lock:
 * the insert and the delete each write first and look for the other's
 * write after (docs/conflicts.md section 8, item 8).
 */
static bool
RowAfterTombstoneLock(Change *change, TupleTableSlot *key)
{
	LocalityHlcStamp stamp;
	char	  **values;
	int64	   *xids;
	char	   *rowkey;

	if (Copying || !IsGlobal(change->rel))
		return false;
	rowkey = LocalityRowKey(change->rel, key);
	if (!LocalityFindTombstone(change->rel, rowkey, &stamp, &values, &xids))
		return false;
	LocalityLockTombstone(change->rel, rowkey);
	return FindLocalRow(change->rel, key, change->local);
}

/*
 * MergeCrdtStates merges the CRDT columns of slot into state[natts] (by
 * attnum - 1; allocated when NULL), per column, and returns it; *changed
 * says whether a state changed.  The key's CRDT columns are one state
 * across its deletes and inserts (docs/conflicts.md section 5): rows,
 * tombstones and the states deletes carry are merged, never written over.
 */
static bytea **
MergeCrdtStates(Change *change, bytea **state, TupleTableSlot *slot, bool *changed)
{
	int			natts = RelationGetDescr(change->rel)->natts;
	bytea	  **values = LocalityCrdtValues(slot, change->crdt_kinds);
	int			i;

	if (state == NULL)
		state = palloc0(sizeof(bytea *) * Max(natts, 1));
	for (i = 0; i < natts; i++)
	{
		bytea	   *merged;

		if (values[i] == NULL)
			continue;
		merged = state[i] == NULL ? values[i] :
			LocalityCrdtMerge(change->crdt_kinds[i], state[i], values[i]);
		if (!LocalityCrdtEqual(merged, state[i]))
			*changed = true;
		state[i] = merged;
	}
	return state;
}

/*
 * MergeTombstoneCrdt: a remote write brings the row back over a tombstone
 * that keeps CRDT state: its CRDT columns merge with that state (a NULL
 * takes it), as an insert made here continues it (global_triggers.c).
 */
static void
MergeTombstoneCrdt(Change *change, const LocalSide *local, TupleTableSlot *remote)
{
	int			natts = RelationGetDescr(change->rel)->natts;
	int			i;

	if (local->tomb_crdt == NULL)
		return;
	slot_getallattrs(remote);
	for (i = 0; i < natts; i++)
	{
		if (local->tomb_crdt[i] == NULL || change->crdt_kinds[i] == 0)
			continue;
		if (remote->tts_isnull[i])
			remote->tts_values[i] = PointerGetDatum(local->tomb_crdt[i]);
		else
			remote->tts_values[i] = PointerGetDatum(LocalityCrdtMerge(change->crdt_kinds[i],
																	   local->tomb_crdt[i],
																	   (bytea *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(remote->tts_values[i]))));
		remote->tts_isnull[i] = false;
	}
}

/*
 * CrdtIntoTombstone: a remote write (or the state a remote delete carries)
 * that leaves the row deleted still merges its CRDT columns into the
 * tombstone's state, so the row, when it comes back, holds them on every
 * region whatever order things arrived in.
 */
static void
CrdtIntoTombstone(Change *change, LocalSide *local, TupleTableSlot *slot, const char *key)
{
	bool		changed = false;

	if (change->crdt_kinds == NULL || local->state != LOCALITY_LOCAL_TOMBSTONE)
		return;
	local->tomb_crdt = MergeCrdtStates(change, local->tomb_crdt, slot, &changed);
	if (changed)
		LocalitySetTombstoneCrdt(change->rel, key, local->tomb_crdt);
}

/*
 * Decide resolves one conflict by the table's mode with the core's decision
 * (docs/conflicts.md): remote_op (LocalityRemoteOp) of the remote change,
 * stamped RemoteStamp, against the local side.  For a remote write, one
 * LocalityColumnChoice per column goes into choices.  The conflict is
 * logged to locality.conflicts (kind, both tuples, both regions, both
 * commit timestamps and stamps) when log is set; mode 'error' raises it
 * instead: the change is retried, never skipped, until the DBA resolves it.
 */
static int
Decide(Change *change, const char *kind, int remote_op, const LocalSide *local,
	   TupleTableSlot *remote, const bool *unchanged, uint8 *choices, bool log)
{
	Relation	rel = change->rel;
	TupleDesc	desc = RelationGetDescr(rel);
	const LocalityTable *table = LocalityFindTable(RelationGetRelid(rel));
	LocalityConflict conflict;
	LocalityConflictColumn *columns = NULL;
	LocalityStatus status;
	int			resolution;
	int			mode;
	char	   *local_json;
	char	   *remote_json;

	LocalityInitStatus(&status);
	if (!locality_conflict_mode_parse(table ? table->conflict_resolution : "last_write_wins",
									  &mode, &status))
		LocalityRaiseStatus(&status, NULL);
	memset(&conflict, 0, sizeof(conflict));
	conflict.mode = mode;
	conflict.remote_op = remote_op;
	conflict.local_state = local->state;
	conflict.local = local->stamp;
	conflict.remote = RemoteStamp;
	if (remote_op == LOCALITY_REMOTE_WRITE)
	{
		FmgrInfo  **fns = LocalityMergeFunctions(rel);
		int			i;

		columns = palloc0(sizeof(LocalityConflictColumn) * Max(desc->natts, 1));
		slot_getallattrs(remote);
		if (local->row)
			slot_getallattrs(local->row);
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);

			/* Per-column stamps in column mode; otherwise a column's are its row's. */
			columns[i].local = local->column_stamps ? local->column_stamps[i] : local->stamp;
			columns[i].remote = RemoteStamp;
			if (attr->attisdropped)
				columns[i].flags = LOCALITY_COLUMN_EQUAL;
			else if (unchanged != NULL && unchanged[i] && !IsMergedColumn(change, fns, i))
				columns[i].flags = LOCALITY_COLUMN_UNCHANGED;
			else if (IsMergedColumn(change, fns, i))
				columns[i].flags = LOCALITY_COLUMN_MERGE;
			else if (local->row && ColumnEqual(attr, local->row, remote, i))
				columns[i].flags = LOCALITY_COLUMN_EQUAL;
		}
		conflict.ncolumns = (uint16_t) desc->natts;
		conflict.columns = columns;
	}
	if (!locality_conflict_resolve(&conflict, choices, &resolution, &status))
		LocalityRaiseStatus(&status, NULL);

	if (!log && resolution != LOCALITY_RESOLUTION_ERROR)
		return resolution;
	local_json = local->row ? RowAsJson(local->row) : NULL;
	remote_json = remote ? RowAsJson(remote) : NULL;
	if (resolution == LOCALITY_RESOLUTION_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
				 errmsg("replication conflict on table \"%s\": %s from region \"%s\"",
						RelationGetRelationName(rel), kind, Source.name),
				 errdetail("Local row: %s; remote row: %s.",
						   local_json ? local_json : "none", remote_json ? remote_json : "none"),
				 errhint("The table's conflict resolution is \"error\": resolve the row here or "
						 "change it with locality.set_conflict_resolution(); the change is retried.")));
	LogConflict(change, kind, local, local_json, remote_json, resolution);
	return resolution;
}

/* True when the decision lets the remote write change the local row. */
static bool
WritesRow(const uint8 *choices, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (choices[i] == LOCALITY_CHOICE_APPLY_REMOTE || choices[i] == LOCALITY_CHOICE_MERGE)
			return true;
	return false;
}

static bool UpdateRowChecked(Change *change, TupleTableSlot *remote, LocalityHlcStamp stamp);

/*
 * WriteOverRow carries out a remote write that conflicts with the local
 * row found (change->local): decided by the core, merged column by column.
 */
static void
WriteOverRow(Change *change, const char *kind, TupleTableSlot *remote, const bool *unchanged)
{
	int			natts = RelationGetDescr(change->rel)->natts;
	uint8	   *choices = palloc0(Max(natts, 1));
	LocalSide	local = LocalRow(change);
	int			resolution = Decide(change, kind, LOCALITY_REMOTE_WRITE, &local, remote, unchanged,
									choices, true);

	if (!WritesRow(choices, natts))
		return;
	/* The local side won: only merged columns may change, and only if they do. */
	if (!MergeColumns(change, remote, choices) && resolution == LOCALITY_RESOLUTION_KEEP_LOCAL)
		return;
	/* The row, once written, has the later of the two stamps. */
	if (!UpdateRowChecked(change, remote,
						  locality_hlc_stamp_compare(&local.stamp, &RemoteStamp) > 0 ?
						  local.stamp : RemoteStamp))
		return;
	StampApplied(change);
	if (local.column_xids != NULL)
	{
		int64		me = LocalityCurrentFullXid();
		int			i;

		/* Columns taken from the remote side are now its; the others keep their writers. */
		for (i = 0; i < natts; i++)
			if (choices[i] == LOCALITY_CHOICE_MERGE ||
				(choices[i] == LOCALITY_CHOICE_APPLY_REMOTE && !(unchanged && unchanged[i])))
				local.column_xids[i] = me;
		LocalityRecordColumnVersions(change->rel, LocalityRowKey(change->rel, remote),
									 local.column_xids);
	}
	/* The row's stamp stays the later of the two (its local one when that won). */
	if (IsGlobal(change->rel) && locality_hlc_stamp_compare(&local.stamp, &RemoteStamp) > 0)
		LocalityKeepRowStamp(change->rel, LocalityRowKey(change->rel, remote), local.stamp);
}

static void InsertRow(Change *change, TupleTableSlot *remote);
static bool InsertRowChecked(Change *change, TupleTableSlot *remote, bool absent_key,
							 bool may_defer);

/*
 * HolderInIndex: the row (other than skip and skip2) that holds row's value
 * in the change's index i, into out (locked when lock is set, then a fresh
 * snapshot); false when there is none or the index is not searched: only
 * unique, immediate indexes other than the replica identity are (an
 * exclusion constraint is left to the write to report), when row is in
 * them (partial indexes) and its value has no NULL (unless NULLS NOT
 * DISTINCT).  With old (the version row replaces), an index whose value
 * row does not change is not searched either: old holds it, so no other
 * row can.  As RelationFindReplTupleByIndex does for the key: a dirty
 * snapshot finds rows of transactions in progress, whose end is waited for.
 */
static bool
HolderInIndex(Change *change, int i, TupleTableSlot *row, TupleTableSlot *old,
			  ItemPointer skip, ItemPointer skip2, TupleTableSlot *out, bool lock)
{
	Relation	rel = change->rel;
	EState	   *estate = change->estate;
	ExprContext *econtext = GetPerTupleExprContext(estate);
	Relation	index = change->rri->ri_IndexRelationDescs[i];
	IndexInfo  *info = change->rri->ri_IndexRelationInfo[i];
	int			nkeys = IndexRelationGetNumberOfKeyAttributes(index);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	ScanKeyData skey[INDEX_MAX_KEYS];
	SnapshotData dirty;
	IndexScanDesc scan;
	bool		found;
	bool		any_null = false;
	int			j;

	if (!info->ii_Unique || info->ii_ExclusionOps != NULL ||
		RelationGetRelid(index) == RelationGetReplicaIndex(rel) || !index->rd_index->indimmediate)
		return false;
	if (info->ii_Predicate != NIL && info->ii_PredicateState == NULL)
		info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate, estate);
	/* A partial index the row is not in cannot hold its value. */
	econtext->ecxt_scantuple = row;
	if (info->ii_Predicate != NIL && !ExecQual(info->ii_PredicateState, econtext))
		return false;
	FormIndexDatum(info, row, estate, values, isnull);
	econtext->ecxt_scantuple = old;
	if (old != NULL && (info->ii_Predicate == NIL || ExecQual(info->ii_PredicateState, econtext)))
	{
		Datum		old_values[INDEX_MAX_KEYS];
		bool		old_isnull[INDEX_MAX_KEYS];
		bool		same = true;

		FormIndexDatum(info, old, estate, old_values, old_isnull);
		for (j = 0; j < nkeys && same; j++)
		{
			Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(index), j);

			same = isnull[j] == old_isnull[j] &&
				(isnull[j] || datum_image_eq(values[j], old_values[j], attr->attbyval, attr->attlen));
		}
		if (same)
			return false;
	}
	for (j = 0; j < nkeys; j++)
	{
		Oid			op = get_opfamily_member(index->rd_opfamily[j], index->rd_opcintype[j],
											 index->rd_opcintype[j], BTEqualStrategyNumber);

		any_null |= isnull[j];
		if (!OidIsValid(op))
			elog(ERROR, "missing equality operator for index \"%s\"",
				 RelationGetRelationName(index));
		ScanKeyEntryInitialize(&skey[j], isnull[j] ? SK_ISNULL | SK_SEARCHNULL : 0, j + 1,
							   isnull[j] ? InvalidStrategy : BTEqualStrategyNumber,
							   isnull[j] ? InvalidOid : index->rd_opcintype[j],
							   index->rd_indcollation[j],
							   isnull[j] ? InvalidOid : get_opcode(op), values[j]);
	}
	if (any_null && !info->ii_NullsNotDistinct)
		return false;			/* NULLs are distinct: no conflict there */

	InitDirtySnapshot(dirty);
	scan = index_beginscan(rel, index, &dirty, nkeys, 0);
retry:
	found = false;
	index_rescan(scan, skey, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, out))
	{
		TransactionId xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;

		if ((skip != NULL && ItemPointerEquals(&out->tts_tid, skip)) ||
			(skip2 != NULL && ItemPointerEquals(&out->tts_tid, skip2)))
			continue;
		if (TransactionIdIsValid(xwait))
		{
			XactLockTableWait(xwait, NULL, NULL, XLTW_None);
			goto retry;
		}
		found = true;
		break;
	}
	if (found && lock)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		PushActiveSnapshot(GetLatestSnapshot());
		res = table_tuple_lock(rel, &out->tts_tid, GetLatestSnapshot(), out,
							   GetCurrentCommandId(false), LockTupleExclusive, LockWaitBlock,
							   0, &tmfd);
		PopActiveSnapshot();
		if (res == TM_Updated || res == TM_Deleted)
			goto retry;			/* changed meanwhile: look again */
		if (res != TM_Ok)
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
	}
	index_endscan(scan);
	if (found && lock)
		FreshSnapshot();
	return found;
}

/*
 * FindUniqueHolders: how many local rows other than self hold a value that
 * row takes in a unique index other than the replica identity (with old,
 * the version row replaces: only the values it changes are searched):
 * 0, 1 (that row locked in change->holder, with a fresh snapshot), or 2 for
 * more than one.
 */
static int
FindUniqueHolders(Change *change, TupleTableSlot *row, TupleTableSlot *old, ItemPointer self)
{
	TupleTableSlot *other = NULL;
	ItemPointerData first;
	int			found = 0;
	int			i;

	ResetPerTupleExprContext(change->estate);
	for (i = 0; i < change->rri->ri_NumIndices && found < 2; i++)
	{
		if (found == 0)
		{
			if (HolderInIndex(change, i, row, old, self, NULL, change->holder, true))
			{
				first = change->holder->tts_tid;
				found = 1;
			}
			continue;
		}
		if (other == NULL)
			other = table_slot_create(change->rel, NULL);
		if (HolderInIndex(change, i, row, old, self, &first, other, false))
			found = 2;
	}
	if (other != NULL)
		ExecDropSingleTupleTableSlot(other);
	return found;
}

/* Deletes the row in slot (locked) without a tombstone: a unique_violation's loser. */
static void
DeleteUniqueLoser(Change *change, TupleTableSlot *slot)
{
	EPQState	epq;

	EvalPlanQualInit(&epq, change->estate, NULL, NIL, -1);
	ExecSimpleRelationDelete(change->rri, change->estate, &epq, slot);
	EvalPlanQualEnd(&epq);
	CommandCounterIncrement();
	change->estate->es_output_cid = GetCurrentCommandId(true);
	StampApplied(change);
}

/* What ResolveUnique leaves the caller to do with the row it decided. */
typedef enum UniqueOutcome
{
	UNIQUE_WRITE,				/* the holder was deleted: write the row */
	UNIQUE_DROP,				/* the row lost: its key keeps no row here */
	UNIQUE_KEEP,				/* keep_local: leave everything local as it is */
	UNIQUE_RAISE				/* mode 'error': write it, the violation stops apply */
} UniqueOutcome;

/*
 * ResolveUnique: row (a remote insert, the new version of a remote update,
 * or a row a remote update re-creates), whose write has stamp, takes the
 * value of a unique index other than the key that holders local rows of
 * other keys hold, the first in change->holder (FindUniqueHolders).  Only
 * one of two rows can stay; which one is decided by the table's mode
 * (locality_unique_conflict_resolve: in the last-write-wins modes the later
 * stamp, so every region keeps the same row, docs/conflicts.md section 3)
 * and logged as unique_violation with both rows.  When row wins, the holder
 * is deleted here, with no tombstone (both regions then hold nothing for
 * the losing key).  A row meeting two or more holders is refused: which of
 * them should stay depends on the order the writes arrive in (section 3).
 */
static UniqueOutcome
ResolveUnique(Change *change, TupleTableSlot *row, LocalityHlcStamp stamp, int holders)
{
	Relation	rel = change->rel;
	const LocalityTable *table = LocalityFindTable(RelationGetRelid(rel));
	LocalityStatus status;
	LocalSide	local;
	int			mode;
	int			resolution;

	LocalityInitStatus(&status);
	if (!locality_conflict_mode_parse(table ? table->conflict_resolution : "last_write_wins",
									  &mode, &status))
		LocalityRaiseStatus(&status, NULL);
	if (mode == LOCALITY_CONFLICT_ERROR)
		return UNIQUE_RAISE;
	if (holders > 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("replication conflict on table \"%s\": unique_violation from region \"%s\" with more than one row",
						RelationGetRelationName(rel), Source.name),
				 errdetail("Remote row: %s; it takes unique values that different local rows hold, one of them: %s.",
						   RowAsJson(row), RowAsJson(change->holder)),
				 errhint("Only a conflict between two rows is decided: change or delete the local rows here; the change is retried.")));
	local.state = LOCALITY_LOCAL_ROW;
	local.row = change->holder;
	local.stamp = LocalityRowStamp(rel, change->holder, IsGlobal(rel));
	local.column_stamps = NULL;
	local.column_xids = NULL;
	local.tomb_values = NULL;
	local.tomb_crdt = NULL;
	if (!locality_unique_conflict_resolve(mode, &local.stamp, &stamp, &resolution, &status))
		LocalityRaiseStatus(&status, NULL);
	if (resolution == LOCALITY_RESOLUTION_ERROR)
		return UNIQUE_RAISE;
	LogConflict(change, "unique_violation", &local, RowAsJson(change->holder), RowAsJson(row),
				resolution);
	if (resolution == LOCALITY_RESOLUTION_APPLY_REMOTE)
	{
		DeleteUniqueLoser(change, change->holder);
		return UNIQUE_WRITE;
	}
	return mode == LOCALITY_CONFLICT_KEEP_LOCAL ? UNIQUE_KEEP : UNIQUE_DROP;
}

/*
 * ResolveUniqueViolation: remote (a new row) met a unique violation on an
 * index other than the key (ResolveUnique).  The local row loses: it is
 * deleted and remote inserted (which may meet the next unique index).  The
 * remote row loses: it is not applied.  False when no holder is found, the
 * mode is 'error' or the row is copied (initial sync, no stamp to decide
 * by): the caller raises the violation, and apply stops on it until the DBA
 * resolves it.
 */
static bool
ResolveUniqueViolation(Change *change, TupleTableSlot *remote)
{
	int			holders = Copying ? 0 : FindUniqueHolders(change, remote, NULL, NULL);

	if (holders == 0)
		return false;
	switch (ResolveUnique(change, remote, RemoteStamp, holders))
	{
		case UNIQUE_RAISE:
			return false;
		case UNIQUE_WRITE:
			InsertRow(change, remote);
			return true;
		case UNIQUE_DROP:
		case UNIQUE_KEEP:
			break;
	}
	return true;
}

/*
 * UpdateRowChecked replaces the local row found (change->local) with
 * remote, as UpdateLocalRow does, once no other row holds a unique value
 * remote takes: a unique_violation is resolved first (ResolveUnique;
 * stamp: the one the row has after the write).  When remote wins, the
 * holder is deleted and the row replaced.  When it loses, in the
 * last-write-wins modes the local row of its key is deleted (no tombstone),
 * as the region where remote's write was made deletes it when the holder's
 * write arrives there (docs/conflicts.md section 3); in keep_local it stays
 * as it is.  In mode 'error' the update raises the violation.  False when
 * the row was not replaced.
 */
static bool
UpdateRowChecked(Change *change, TupleTableSlot *remote, LocalityHlcStamp stamp)
{
	int			holders = Copying ? 0 :
		FindUniqueHolders(change, remote, change->local, &change->local->tts_tid);

	if (holders > 0)
	{
		switch (ResolveUnique(change, remote, stamp, holders))
		{
			case UNIQUE_DROP:
				DeleteUniqueLoser(change, change->local);
				return false;
			case UNIQUE_KEEP:
				return false;
			case UNIQUE_WRITE:
			case UNIQUE_RAISE:
				break;
		}
	}
	UpdateLocalRow(change, remote);
	return true;
}

/*
 * InsertRow inserts remote as ExecSimpleRelationInsert would, but lets the
 * unique indexes report a duplicate instead of raising it, so the common
 * case costs no extra index search.  On a duplicate key (insert_exists) the
 * new row is taken back and the conflict resolved against the existing row.
 * A duplicate in another unique index (a row of another key holds the same
 * value) is a unique_violation: only one of the two rows can stay
 * (ResolveUniqueViolation).
 */
static void
InsertRow(Change *change, TupleTableSlot *remote)
{
	(void) InsertRowChecked(change, remote, false, false);
}

/*
 * InsertRowChecked is InsertRow; with absent_key, the caller has not looked
 * for the key (ApplyInsert's fast path on a GLOBAL table): the row is kept
 * only when the key is absent and has no tombstone, else it is taken back
 * and false returned (nothing applied: the caller decides as before).  The
 * insertion into the replica identity index reports a possible duplicate
 * for every version of the key that is live or written by a transaction
 * still in progress (a local DELETE of the row not committed yet included);
 * without one, every delete of the key has ended, so the fresh snapshot
 * taken after it sees its tombstone: the view FindLocalRow gives, at one
 * index search less per row (docs/conflicts.md section 8).  may_defer: the
 * tombstone probe may wait for CheckPendingInserts.
 */
static bool
InsertRowChecked(Change *change, TupleTableSlot *remote, bool absent_key, bool may_defer)
{
	Relation	rel = change->rel;
	ResultRelInfo *rri = change->rri;
	EState	   *estate = change->estate;
	bool		duplicate = false;
	List	   *recheck = NIL;

	CheckCmdReplicaIdentity(rel, CMD_INSERT);
	if (rri->ri_TrigDesc && rri->ri_TrigDesc->trig_insert_before_row &&
		!ExecBRInsertTriggers(estate, rri, remote))
		return true;
	if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
		ExecComputeStoredGenerated(rri, estate, remote, CMD_INSERT);
	if (rel->rd_att->constr)
		ExecConstraints(rri, remote, estate);
	simple_table_tuple_insert(rel, remote);
	if (rri->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(rri, remote, estate, false, true, &duplicate, NIL);

	if (absent_key && !duplicate)
	{
		LocalityHlcStamp stamp;
		char	  **values;
		int64	   *xids;

		/*
		 * No trigger fires here (none would see a row taken back later) and
		 * no deferred unique check: the tombstone check waits for the next
		 * CheckPendingInserts, with those of the rows inserted after it.
		 */
		if (may_defer && rri->ri_TrigDesc == NULL && recheck == NIL)
		{
			Assert(NumPendingInserts < MAX_PENDING_INSERTS);
			if (NumPendingInserts == 0)
			{
				PendingRelid = RelationGetRelid(rel);
				PendingRemoteRelid = change->entry->remote_relid;
			}
			Assert(PendingRelid == RelationGetRelid(rel));
			PendingInserts[NumPendingInserts++] = remote->tts_tid;
			StampApplied(change);
			return true;
		}
		/*
		 * The key race (docs/conflicts.md section 8): a delete of this key
		 * that found no row may be writing its tombstone now.  The row's
		 * index entry is written; the probe waits for such a writer, so
		 * either it sees the tombstone or the delete, which looks for the
		 * row again after writing it (ApplyDelete), sees the row.
		 */
		if (LocalityAwaitTombstone(rel, LocalityRowKey(rel, remote)))
		{
			FreshSnapshot();
			duplicate = LocalityFindTombstone(rel, LocalityRowKey(rel, remote), &stamp, &values,
											  &xids);
		}
	}
	/* A possible duplicate: is there really another row with this key? */
	if (duplicate)
	{
		ItemPointerData mine = remote->tts_tid;
		bool		same_key;

		/* Take ours back (a later command may delete it), then resolve. */
		CommandCounterIncrement();
		estate->es_output_cid = GetCurrentCommandId(true);
		simple_table_tuple_delete(rel, &mine, GetActiveSnapshot());
		if (absent_key)
		{
			list_free(recheck);
			return false;
		}
		same_key = FindLocalRow(rel, remote, change->local);
		if (same_key)
			WriteOverRow(change, "insert_exists", remote, NULL);
		else if (!ResolveUniqueViolation(change, remote))
		{
			/* Inserting it again raises the unique violation, naming the index. */
			CommandCounterIncrement();
			estate->es_output_cid = GetCurrentCommandId(true);
			ExecSimpleRelationInsert(rri, estate, remote);
		}
	}
	else
	{
		ExecARInsertTriggers(estate, rri, remote, recheck, NULL);
		StampApplied(change);
	}
	list_free(recheck);
	return true;
}

/*
 * ApplyInsertLookedUp applies remote, a new row for a GLOBAL table, as an
 * insert whose key is looked up first: over the row it finds (insert_exists)
 * or the key's tombstone (insert_deleted), decided; else inserted.
 */
static void
ApplyInsertLookedUp(Change *change, TupleTableSlot *remote)
{
	LocalSide	local;
	bool		insert_first = true;

again:
	if (FindLocalRow(change->rel, remote, change->local) ||
		RowAfterTombstoneLock(change, remote))
	{
		WriteOverRow(change, "insert_exists", remote, NULL);
		return;
	}
	local = LocalMissing(change, remote);

	if (local.state == LOCALITY_LOCAL_TOMBSTONE)
	{
		uint8	   *choices = palloc0(Max(RelationGetDescr(change->rel)->natts, 1));

		if (Decide(change, "insert_deleted", LOCALITY_REMOTE_WRITE, &local, remote, NULL, choices,
				   local.stamp.region_id != Source.id) != LOCALITY_RESOLUTION_APPLY_REMOTE)
		{
			MergeIntoTombstone(change, &local, remote, NULL, choices);
			CrdtIntoTombstone(change, &local, remote, LocalityRowKey(change->rel, remote));
			return;
		}
		MergeTombstoneCrdt(change, &local, remote);
	}
	/*
	 * The key race (docs/conflicts.md section 8): no row and no tombstone,
	 * so nothing is locked, and a delete of the key by another worker may
	 * record its tombstone after the lookup above and look for the row
	 * before it is inserted.  So the row is inserted first and the tombstone
	 * probed after (waiting for its writer), as the fast path does; a
	 * tombstone (or row) that came meanwhile takes the row back, and the
	 * insert is decided again, once: the second time as before, so that a
	 * row of another key holding a value of another unique index (which
	 * also takes it back) reaches ResolveUniqueViolation.  Not with a BEFORE
	 * INSERT trigger firing here (it would fire twice), nor without a
	 * replica identity index: that race stays open there.
	 */
	if (insert_first && local.state == LOCALITY_LOCAL_ABSENT && !Copying &&
		IsGlobal(change->rel) && OidIsValid(RelationGetReplicaIndex(change->rel)) &&
		!BeforeInsertFiresOnReplica(change->rri))
	{
		if (InsertRowChecked(change, remote, true, false))
			return;
		insert_first = false;
		goto again;
	}
	InsertRow(change, remote);
}

/*
 * CheckPendingInserts ends the deferred tombstone checks of InsertRowChecked:
 * one new snapshot, taken after every pending row's index insertion, so it
 * sees the tombstone of each delete of their keys that had ended before
 * (docs/conflicts.md section 8 item 7); when the table has no tombstone in
 * it, every row stands.  Else each row's key is probed, and a row whose key
 * has a tombstone is taken back and decided as an insert looked up first.
 */
static void
CheckPendingInserts(void)
{
	Change	   *change;
	int			n = NumPendingInserts;
	bool		pushed = false;
	int			i;

	if (n == 0)
		return;
	NumPendingInserts = 0;
	change = FindOpenChange(PendingRelid);
	if (change == NULL)
		elog(ERROR, "pending inserts into relation %u without its executor state", PendingRelid);
	if (ActiveSnapshotSet())
		FreshSnapshot();
	else
	{
		PushActiveSnapshot(GetLatestSnapshot());
		pushed = true;
	}
	if (LocalityRelationHasTombstones(change->rel))
	{
		for (i = 0; i < n; i++)
		{
			LocalityHlcStamp stamp;
			char	  **values;
			int64	   *xids;

			if (!table_tuple_fetch_row_version(change->rel, &PendingInserts[i], SnapshotAny,
											   change->local))
				elog(ERROR, "row (%u,%u) inserted into \"%s\" is gone",
					 ItemPointerGetBlockNumber(&PendingInserts[i]),
					 ItemPointerGetOffsetNumber(&PendingInserts[i]),
					 RelationGetRelationName(change->rel));
			/* As InsertRowChecked: wait for a tombstone of the key being written. */
			if (!LocalityAwaitTombstone(change->rel, LocalityRowKey(change->rel, change->local)))
				continue;
			FreshSnapshot();
			if (!LocalityFindTombstone(change->rel, LocalityRowKey(change->rel, change->local),
									   &stamp, &values, &xids))
				continue;
			/* Take it back (a later command deletes it), then decide. */
			ExecCopySlot(change->remote, change->local);
			change->parsed_tuple = NULL;
			CommandCounterIncrement();
			change->estate->es_output_cid = GetCurrentCommandId(true);
			simple_table_tuple_delete(change->rel, &PendingInserts[i], GetActiveSnapshot());
			ApplyInsertLookedUp(change, change->remote);
		}
		ExecClearTuple(change->local);
	}
	if (pushed)
		PopActiveSnapshot();
}

static void
ApplyInsert(const LocalityWireInsert *msg)
{
	Change	   *change;
	TupleTableSlot *remote;

	if (NumPendingInserts == MAX_PENDING_INSERTS ||
		(NumPendingInserts > 0 && msg->relid != PendingRemoteRelid))
		CheckPendingInserts();
	change = BeginChange(msg->relid);
	if (change == NULL)
		return;
	remote = TupleSlot(change, change->remote, &msg->new_tuple, NULL, true);
	/*
	 * A tombstone of the key: the insert is decided against the delete, but
	 * only while the row is absent (a tombstone outlives the row's return:
	 * an insert over a row brought back is an insert_exists).
	 */
	if (!Copying && IsGlobal(change->rel))
	{
		/*
		 * The common case first: insert, then check that the key had no row
		 * and no tombstone (else the row is taken back and decided below).
		 * Only with a replica identity index, whose insertion reports the
		 * key's row, without BEFORE INSERT triggers firing here (they must
		 * run once), and without CRDT columns: a row taken back keeps local
		 * inserts of the key waiting for this transaction, after their
		 * insert trigger read the tombstone's CRDT state, which this
		 * transaction may then merge into (090_global_convergence, seed 1).
		 */
		if (change->crdt_kinds == NULL && OidIsValid(RelationGetReplicaIndex(change->rel)) &&
			!BeforeInsertFiresOnReplica(change->rri))
		{
			if (InsertRowChecked(change, remote, true, true))
				return;
			/* Taken back: the rows before it are checked first. */
			CheckPendingInserts();
		}
		ApplyInsertLookedUp(change, remote);
		return;
	}
	InsertRow(change, remote);
}

static void
ApplyUpdate(const LocalityWireUpdate *msg)
{
	Change	   *change;
	TupleTableSlot *search;

	CheckPendingInserts();		/* it may change one of them */
	change = BeginChange(msg->relid);

	if (change == NULL)
		return;
	search = TupleSlot(change, change->search,
					   msg->old_kind == LOCALITY_WIRE_OLD_NONE ? &msg->new_tuple : &msg->old_tuple,
					   NULL, false);
	if (FindLocalRow(change->rel, search, change->local) || RowAfterTombstoneLock(change, search))
	{
		TupleTableSlot *remote = TupleSlot(change, change->remote, &msg->new_tuple,
										   change->local, false);
		int			natts = RelationGetDescr(change->rel)->natts;
		bool	   *unchanged = palloc0(sizeof(bool) * Max(natts, 1));
		TimestampTz ts;
		RepOriginId origin;
		int			i;

		for (i = 0; i < msg->new_tuple.natts; i++)
			if (msg->new_tuple.columns[i].kind == LOCALITY_WIRE_COLUMN_UNCHANGED)
				unchanged[change->entry->attmap[i] - 1] = true;
		/* Last written by another region (or here) than the sender's. */
		if (LocalRowOrigin(change->local, &ts, &origin) && (origin != replorigin_session_origin ||
			(IsGlobal(change->rel) && LocalityRowStamp(change->rel, change->local, true).region_id != Source.id)))
			WriteOverRow(change, "update_origin_differs", remote, unchanged);
		else if (IsColumnMode(change->rel))
		{
			LocalSide	local = LocalRow(change);
			int64		me = LocalityCurrentFullXid();

			(void) MergeColumns(change, remote, NULL);
			if (!UpdateRowChecked(change, remote, RemoteStamp))
				return;
			StampApplied(change);
			/* The columns the sender wrote are now this transaction's. */
			for (i = 0; i < natts; i++)
				if (!unchanged[i])
					local.column_xids[i] = me;
			LocalityRecordColumnVersions(change->rel, LocalityRowKey(change->rel, remote),
										 local.column_xids);
		}
		else
		{
			(void) MergeColumns(change, remote, NULL);
			if (UpdateRowChecked(change, remote, RemoteStamp))
				StampApplied(change);
		}
	}
	else
	{
		TupleTableSlot *remote = TupleSlot(change, change->remote, &msg->new_tuple, NULL, true);
		LocalSide	local = LocalMissing(change, search);
		int			natts = RelationGetDescr(change->rel)->natts;
		uint8	   *choices = palloc0(Max(natts, 1));
		bool	   *unchanged = palloc0(sizeof(bool) * Max(natts, 1));
		bool		complete = true;
		int			i;

		for (i = 0; i < msg->new_tuple.natts; i++)
			if (msg->new_tuple.columns[i].kind == LOCALITY_WIRE_COLUMN_UNCHANGED)
				unchanged[change->entry->attmap[i] - 1] = true;
		/* update_missing: re-creates the row when it wins and is complete. */
		if (Decide(change, "update_missing", LOCALITY_REMOTE_WRITE, &local, remote,
				   local.tomb_values ? unchanged : NULL, choices, true) != LOCALITY_RESOLUTION_APPLY_REMOTE)
		{
			MergeIntoTombstone(change, &local, remote, unchanged, choices);
			CrdtIntoTombstone(change, &local, remote, LocalityRowKey(change->rel, search));
			return;
		}
		for (i = 0; i < natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(RelationGetDescr(change->rel), i);

			if (attr->attisdropped)
				continue;
			/* Column mode over a tombstone: its columns where the remote did not win. */
			if (local.tomb_values != NULL &&
				(unchanged[i] || choices[i] == LOCALITY_CHOICE_KEEP_LOCAL))
			{
				Oid			func;
				Oid			ioparam;

				getTypeInputInfo(attr->atttypid, &func, &ioparam);
				remote->tts_isnull[i] = local.tomb_values[i] == NULL;
				remote->tts_values[i] = local.tomb_values[i] == NULL ? (Datum) 0 :
					OidInputFunctionCall(func, local.tomb_values[i], ioparam, attr->atttypmod);
			}
			else
				complete &= !unchanged[i];
		}
		if (!complete)
			return;
		MergeTombstoneCrdt(change, &local, remote);
		/* As a remote insert: it may meet a unique_violation (a loser's later write). */
		InsertRow(change, remote);
		StampApplied(change);
		if (local.tomb_values != NULL)
		{
			int64		me = LocalityCurrentFullXid();

			for (i = 0; i < natts; i++)
				if (!unchanged[i] && choices[i] != LOCALITY_CHOICE_KEEP_LOCAL)
					local.column_xids[i] = me;
			LocalityRecordColumnVersions(change->rel, LocalityRowKey(change->rel, remote),
										 local.column_xids);
		}
	}
}

/*
 * Deletes the local row found, leaving a tombstone on a GLOBAL table.  Its
 * CRDT state: the row's, merged with what the delete carries (the state the
 * deleting region left, with what it observed reset: key's CRDT columns)
 * and with what an older tombstone kept.
 */
static void
DeleteLocalRow(Change *change, TupleTableSlot *key)
{
	EPQState	epq;

	/* First: a tombstone in column mode keeps the row's columns. */
	if (IsGlobal(change->rel))
	{
		char	   *rowkey = LocalityRowKey(change->rel, key);
		bytea	  **crdt = NULL;

		if (change->crdt_kinds != NULL)
		{
			bool		changed = false;

			crdt = LocalityTombstoneCrdt(change->rel, rowkey);
			crdt = MergeCrdtStates(change, crdt, change->local, &changed);
			crdt = MergeCrdtStates(change, crdt, key, &changed);
		}
		LocalityRecordTombstone(change->rel, rowkey, change->local, crdt);
		StampApplied(change);
	}
	EvalPlanQualInit(&epq, change->estate, NULL, NIL, -1);
	ExecSimpleRelationDelete(change->rri, change->estate, &epq, change->local);
	EvalPlanQualEnd(&epq);
}

/*
 * ResetLocalRow: a remote delete lost to the local row (which stays), but
 * what it observed of the CRDT columns is reset all the same: the state it
 * carries (key's CRDT columns) merges into the row, as it does on the
 * regions where the delete arrived first and the later write brought the
 * row back over its tombstone (docs/conflicts.md section 5).
 */
static void
ResetLocalRow(Change *change, const LocalSide *local, TupleTableSlot *key)
{
	TupleDesc	desc = RelationGetDescr(change->rel);
	TupleTableSlot *row = change->remote;
	bytea	  **state;
	bool		changed = false;
	int			i;

	if (change->crdt_kinds == NULL || !IsGlobal(change->rel))
		return;
	state = MergeCrdtStates(change, LocalityCrdtValues(change->local, change->crdt_kinds), key,
							&changed);
	if (!changed)
		return;
	ExecClearTuple(row);
	slot_getallattrs(change->local);
	memcpy(row->tts_values, change->local->tts_values, sizeof(Datum) * desc->natts);
	memcpy(row->tts_isnull, change->local->tts_isnull, sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
		if (state[i] != NULL)
		{
			row->tts_values[i] = PointerGetDatum(state[i]);
			row->tts_isnull[i] = false;
		}
	ExecStoreVirtualTuple(row);
	UpdateLocalRow(change, row);
	StampApplied(change);
	if (local->column_xids != NULL)
	{
		int64		me = LocalityCurrentFullXid();

		/* The CRDT columns are now this transaction's; the others keep their writers. */
		for (i = 0; i < desc->natts; i++)
			if (change->crdt_kinds[i] != 0)
				local->column_xids[i] = me;
		LocalityRecordColumnVersions(change->rel, LocalityRowKey(change->rel, key),
									 local->column_xids);
	}
	/* The row keeps its own (later) stamp. */
	if (locality_hlc_stamp_compare(&local->stamp, &RemoteStamp) > 0)
		LocalityKeepRowStamp(change->rel, LocalityRowKey(change->rel, key), local->stamp);
}

/* A remote delete of the local row found (change->local, locked). */
static void
DeleteFoundRow(Change *change, TupleTableSlot *search)
{
	TimestampTz ts;
	RepOriginId origin;

	/* Last written elsewhere: the delete wins only if later (logged when it loses). */
	if (LocalRowOrigin(change->local, &ts, &origin) && (origin != replorigin_session_origin ||
		(IsGlobal(change->rel) && LocalityRowStamp(change->rel, change->local, true).region_id != Source.id)))
	{
		LocalSide	local = LocalRow(change);

		if (Decide(change, "delete_origin_differs", LOCALITY_REMOTE_DELETE, &local, NULL, NULL,
				   NULL, false) != LOCALITY_RESOLUTION_APPLY_REMOTE)
		{
			(void) Decide(change, "delete_origin_differs", LOCALITY_REMOTE_DELETE, &local,
						  NULL, NULL, NULL, true);
			ResetLocalRow(change, &local, search);
			return;
		}
	}
	DeleteLocalRow(change, search);
}

static void
ApplyDelete(const LocalityWireDelete *msg)
{
	Change	   *change;
	TupleTableSlot *search;

	CheckPendingInserts();		/* it may change one of them */
	change = BeginChange(msg->relid);

	if (change == NULL)
		return;
	search = TupleSlot(change, change->search, &msg->old_tuple, NULL, false);
	if (FindLocalRow(change->rel, search, change->local) || RowAfterTombstoneLock(change, search))
		DeleteFoundRow(change, search);
	else
	{
		LocalSide	local = LocalMissing(change, search);

		/*
		 * delete_missing: the later delete's stamp is kept in the tombstone;
		 * the CRDT state it carries is merged into the tombstone either way.
		 */
		if (Decide(change, "delete_missing", LOCALITY_REMOTE_DELETE, &local, NULL, NULL, NULL, true) ==
			LOCALITY_RESOLUTION_APPLY_REMOTE && IsGlobal(change->rel))
		{
			bytea	  **crdt = NULL;

			if (change->crdt_kinds != NULL)
			{
				bool		changed = false;

				crdt = MergeCrdtStates(change, local.tomb_crdt, search, &changed);
			}
			LocalityRecordTombstone(change->rel, LocalityRowKey(change->rel, search), NULL, crdt);
			StampApplied(change);

			/*
			 * The key race (docs/conflicts.md section 8): with no tombstone
			 * to lock, an insert of the key by another worker (or a local
			 * session) may have come after the lookup above.  Now that the
			 * tombstone's index entry is written, look for the row again,
			 * waiting for its inserter (FindLocalRow): either this sees the
			 * row, decided as a delete of a row found (the tombstone stays
			 * when the row wins, as on a region where this delete arrived
			 * before the insert), or the insert's tombstone probe, which
			 * comes after its row's index entry, sees this tombstone.
			 */
			if (local.state == LOCALITY_LOCAL_ABSENT)
			{
				CommandCounterIncrement();
				change->estate->es_output_cid = GetCurrentCommandId(true);
				if (FindLocalRow(change->rel, search, change->local))
					DeleteFoundRow(change, search);
			}
		}
		else if (IsGlobal(change->rel))
			CrdtIntoTombstone(change, &local, search, LocalityRowKey(change->rel, search));
	}
}

static void
ApplyTruncate(const LocalityWireTruncate *msg)
{
	List	   *rels = NIL;
	List	   *relids = NIL;
	ListCell   *lc;
	int			i;

	FinishChanges();			/* TRUNCATE wants no other use of the tables */

	for (i = 0; i < msg->nrels; i++)
	{
		RelationMapEntry *entry;
		Relation	rel = OpenMapped(msg->relids[i], &entry);

		if (rel == NULL)
			continue;			/* its copy is newer */
		/* TRUNCATE needs AccessExclusiveLock; upgrade what OpenMapped took. */
		LockRelationOid(RelationGetRelid(rel), AccessExclusiveLock);
		rels = lappend(rels, rel);
		relids = lappend_oid(relids, RelationGetRelid(rel));
	}
	if (rels == NIL)
		return;
	ExecuteTruncateGuts(rels, relids, NIL, DROP_RESTRICT,
						(msg->flags & LOCALITY_WIRE_TRUNCATE_RESTART_IDENTITY) != 0);
	foreach(lc, rels)
		table_close((Relation) lfirst(lc), NoLock);
}

/*
 * LocalityApplyInsertRow applies one copied row (initial sync) of relation
 * key as an INSERT.  Call inside a transaction.
 */
void
LocalityApplyInsertRow(uint32 key, int natts, const char **values)
{
	LocalityWireColumn *cols;
	LocalityWireInsert msg;
	MemoryContext old;
	int			i;

	PushActiveSnapshot(GetTransactionSnapshot());
	old = MemoryContextSwitchTo(CopyRowContext);
	cols = palloc(sizeof(LocalityWireColumn) * Max(natts, 1));
	for (i = 0; i < natts; i++)
	{
		cols[i].kind = values[i] ? LOCALITY_WIRE_COLUMN_TEXT : LOCALITY_WIRE_COLUMN_NULL;
		cols[i].data = values[i];
		cols[i].len = values[i] ? strlen(values[i]) : 0;
	}
	msg.relid = key;
	msg.new_tuple.natts = (uint16_t) natts;
	msg.new_tuple.columns = cols;

	Copying = true;
	PG_TRY();
	{
		ApplyInsert(&msg);
	}
	PG_FINALLY();
	{
		Copying = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	MemoryContextReset(CopyRowContext);
	PopActiveSnapshot();
	CommandCounterIncrement();
}

/*
 * LocalityApplyCommitGroup commits the source transactions applied and not
 * yet committed here, in one local commit that advances the replication
 * origin to the last one's end.  The apply worker calls it before it
 * waits for data, handles anything but a transaction, or reports progress.
 */
void
LocalityApplyCommitGroup(void)
{
	MemoryContext old;
	int			i;

	/*
	 * Not between a member's BEGIN and COMMIT: a large source transaction
	 * comes in several messages, and the worker calls this whenever none is
	 * buffered (or every 256): committing there committed part of it with
	 * the group, its next change arrived outside any transaction, and after
	 * that error it was applied again from its start.
	 */
	if (GroupSize == 0 || InMember)
		return;
	if (NumPendingInserts > 0)
	{
		old = MemoryContextSwitchTo(ApplyContext);
		CheckPendingInserts();
		MemoryContextSwitchTo(old);
		MemoryContextReset(ApplyContext);
	}
	FinishChanges();
	LocalityCleanupConflictState();
	replorigin_session_origin_lsn = GroupEndLsn;
	replorigin_session_origin_timestamp = GroupCommitTime;
	CommitTransactionCommand();
	LocalityApplyRecordCommit(XactLastCommitEnd, GroupEndLsn, GroupCommitTime);
	/* Forwarded commits whose answers may still be on their way: applied. */
	for (i = 0; i < GroupSize; i++)
		LocalityPendingCommitApplied(Source.id, GroupXids[i]);
	GroupSize = 0;
	pgstat_report_stat(false);
}

/*
 * LocalityApplyFailingLsn: the source commit position of the transaction
 * being applied (the one an apply error interrupted).
 */
XLogRecPtr
LocalityApplyFailingLsn(void)
{
	return RemoteCommitLsn;
}

/*
 * LocalityApplyUngroupedBefore: source transactions committed before lsn
 * are committed here one by one (after an error at lsn, the ones before it
 * are then applied, visibly, while it keeps failing).
 */
void
LocalityApplyUngroupedBefore(XLogRecPtr lsn)
{
	UngroupedBefore = lsn;
}

/* LocalityInitApply defines the apply's settings. */
void
LocalityInitApply(void)
{
	DefineCustomIntVariable("locality.apply_group_size",
							"Most source transactions an apply worker commits together.",
							"Under a backlog, consecutive source transactions committed in the "
							"same millisecond are committed here in one transaction. "
							"1 commits each on its own.",
							&GroupSizeLimit, 64, 1, MAX_GROUP_SIZE,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/*
 * LocalityApplyMessage decodes and applies one message of the stream.
 */
void
LocalityApplyMessage(const char *data, size_t len)
{
	LocalityWireMessage msg;
	LocalityStatus status;
	MemoryContext old;

	LocalityInitStatus(&status);
	if (!locality_wire_decode(Decoder, data, len, &msg, &status))
		LocalityRaiseStatus(&status, NULL);

	switch (msg.type)
	{
		case LOCALITY_WIRE_STARTUP:
			return;				/* the plugin accepted our version range */
		case LOCALITY_WIRE_BEGIN:
			{
				/*
				 * The stamp: stored on the sender (hlc), else derived from
				 * the commit time.  The clock observes it (docs/conflicts.md
				 * C2) at the first change applied to a GLOBAL table
				 * (LocalityStampApplied).
				 */
				bool		derived = msg.body.begin.hlc == 0;
				LocalityHlcStamp stamp = !derived ?
					(LocalityHlcStamp) {msg.body.begin.hlc, (uint16_t) Source.id} :
					LocalityStampFromTime(msg.body.begin.commit_time, Source.id);

				/*
				 * Joins the open group only with the same derived stamp.
				 * Else the group is committed first, while RemoteStamp and
				 * the rest are still its last member's: its deferred
				 * tombstone checks (CheckPendingInserts) decide, stamp and
				 * log with them, as that member's own commit would; with
				 * this transaction's (later) stamp an insert of a key
				 * deleted in between won over the delete here only, and
				 * the whole group was stamped with it.
				 */
				if (GroupSize > 0 &&
					!(derived && GroupDerived &&
					  locality_hlc_stamp_compare(&stamp, &GroupStamp) == 0))
					LocalityApplyCommitGroup();
				RemoteCommitTime = msg.body.begin.commit_time;
				RemoteCommitLsn = msg.body.begin.final_lsn;
				RemoteXid = (TransactionId) msg.body.begin.xid;
				RemoteDerived = derived;
				RemoteStamp = stamp;
				InMember = true;
				if (GroupSize == 0)
					StartTransactionCommand();
				return;
			}
		case LOCALITY_WIRE_COMMIT:
			InMember = false;
			GroupXids[GroupSize++] = RemoteXid;
			GroupEndLsn = msg.body.commit.end_lsn;
			GroupCommitTime = msg.body.commit.commit_time;
			GroupStamp = RemoteStamp;
			GroupDerived = RemoteDerived;
			/* Left open for the next source transaction of the same stamp? */
			if (RemoteDerived && GroupSize < Min(GroupSizeLimit, MAX_GROUP_SIZE) &&
				RemoteCommitLsn >= UngroupedBefore)
				return;
			LocalityApplyCommitGroup();
			return;
		case LOCALITY_WIRE_RELATION:
			HandleRelation(&msg.body.relation);
			return;
		default:
			break;
	}

	/* A change: one command, its own snapshot, per-message memory. */
	if (!IsTransactionState())
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("region \"%s\" sent a change outside a transaction", Source.name)));
	PushActiveSnapshot(GetTransactionSnapshot());
	old = MemoryContextSwitchTo(ApplyContext);
	switch (msg.type)
	{
		case LOCALITY_WIRE_INSERT:
			ApplyInsert(&msg.body.insert);
			break;
		case LOCALITY_WIRE_UPDATE:
			ApplyUpdate(&msg.body.update);
			break;
		case LOCALITY_WIRE_DELETE:
			ApplyDelete(&msg.body.del);
			break;
		case LOCALITY_WIRE_TRUNCATE:
			ApplyTruncate(&msg.body.truncate);
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("unexpected message type \"%c\" from region \"%s\"",
							msg.type, Source.name)));
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(ApplyContext);
	PopActiveSnapshot();
	CommandCounterIncrement();
}
