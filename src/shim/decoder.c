/*
 * decoder.c -- the logical decoding output plugin "pg_locality" (the same
 * shared library): turns this server's WAL into the compact binary stream
 * the other regions' apply workers consume (codec: src/core/wire_protocol).
 *
 * It ships only changes that originated here (filter_by_origin_cb: changes
 * applied from another region carry that region's replication origin), so
 * the full mesh never loops, and only for managed tables (the catalog is a
 * user_catalog_table, readable under decoding's historic snapshot).  Empty
 * transactions are not sent.  The protocol version is negotiated at start
 * and a mismatch refused with a clear error.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "fmgr.h"
#include "parser/parse_relation.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/column_versions.h"
#include "shim/crdt.h"
#include "shim/pending_commits.h"
#include "shim/stamps.h"

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* Per relation: managed or not, and whether its RELATION message went out. */
typedef struct DecodedRelation
{
	Oid			relid;
	bool		managed;
	bool		column_mode;	/* GLOBAL, last_write_wins_column: send written columns only */
	bool		schema_sent;
	FmgrInfo   *output;			/* per attribute: its type's output function */
	bool	   *varlena;
} DecodedRelation;

typedef struct DecoderState
{
	MemoryContext change_cxt;	/* reset after every change */
	int			version;
	bool		startup_sent;
	bool		begin_sent;		/* for the current transaction */
	/*
	 * Protocol version 2 (LOCALITY_WIRE_VERSION_BATCHED): a transaction's
	 * messages go out together, in one XLogData message per transaction (or
	 * per BATCH_BYTES of a large one), instead of one each: a walsender
	 * sends every XLogData message with its own send(), which cost a
	 * transaction of one row three of them.  STARTUP and BEGIN are held as
	 * structs until the first send (BEGIN's stamp is known by then, see
	 * stamp_hlc); pending holds the encoded messages after them.
	 */
	bool		batched;
	StringInfo	pending;
	bool		startup_held;
	bool		begin_held;
	LocalityWireMessage begin;
	/*
	 * The transaction's own row of locality.commit_stamps (written at its
	 * pre-commit, so decoded before its COMMIT): BEGIN's hlc, without the
	 * index probe per transaction that looking it up costs.
	 */
	bool		stamp_seen;
	uint64		stamp_hlc;
	int16		local_region_id;
	int16		target_region_id;	/* from the slot's name, 0 if not ours */
	/*
	 * The last tombstone this transaction wrote (decoded from
	 * locality.tombstones, written by the delete trigger just before the
	 * row's DELETE): its CRDT state goes with that DELETE.
	 */
	MemoryContext tomb_cxt;
	Oid			tomb_relid;
	char	   *tomb_key;
	bytea	  **tomb_crdt;		/* by attnum - 1 of tomb_relid */
	int			tomb_natts;
} DecoderState;

static HTAB *Relations = NULL;	/* of DecodedRelation, walsender lifetime */
static Oid	TableCatalogOid = InvalidOid;
static Oid	RegionCatalogOid = InvalidOid;
static Oid	TombstonesOid = InvalidOid;
static Oid	CommitStampsOid = InvalidOid;
static bool RegionsKnown = false;	/* region ids below are current */

/* Forgets what we know of relid (or of everything when the catalog changed). */
static void
RelationInvalidated(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	DecodedRelation *entry;

	if (relid == InvalidOid || relid == RegionCatalogOid)
		RegionsKnown = false;
	if (relid == InvalidOid || relid == TombstonesOid)
		TombstonesOid = InvalidOid;
	if (relid == InvalidOid || relid == CommitStampsOid)
		CommitStampsOid = InvalidOid;
	if (Relations == NULL)
		return;
	hash_seq_init(&scan, Relations);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (relid != InvalidOid && relid != TableCatalogOid && entry->relid != relid)
			continue;
		if (entry->output != NULL)
		{
			pfree(entry->output);
			pfree(entry->varlena);
		}
		(void) hash_search(Relations, &entry->relid, HASH_REMOVE, NULL);
	}
}

/* The OID of locality.<name>, or InvalidOid. */
static Oid
LocalityRelation(const char *name)
{
	Oid			nsp = get_namespace_oid("locality", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * True when relid has a row in locality.table_catalog (historic snapshot);
 * *column_mode when it is GLOBAL and resolved column by column.
 */
static bool
ScanManaged(Oid relid, bool *column_mode)
{
	Relation	catalog;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found;

	if (!OidIsValid(TableCatalogOid))
		TableCatalogOid = LocalityRelation("table_catalog");
	if (!OidIsValid(TableCatalogOid))
		return false;
	catalog = table_open(TableCatalogOid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(catalog, InvalidOid, false, NULL, 1, &key);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	*column_mode = false;
	if (found)
	{
		TupleDesc	desc = RelationGetDescr(catalog);
		bool		isnull;
		Datum		kind = heap_getattr(tuple, get_attnum(TableCatalogOid, "kind"), desc, &isnull);
		Datum		mode = heap_getattr(tuple, get_attnum(TableCatalogOid, "conflict_resolution"),
										desc, &isnull);

		*column_mode = strcmp(TextDatumGetCString(kind), "GLOBAL") == 0 &&
			strcmp(TextDatumGetCString(mode), "last_write_wins_column") == 0;
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return found;
}

static DecodedRelation *
LookupRelation(Oid relid)
{
	DecodedRelation *entry;
	bool		found;

	entry = hash_search(Relations, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->managed = false;
		entry->schema_sent = false;
		entry->output = NULL;	/* looked up on first use (a schema change starts over) */
		entry->varlena = NULL;
		PG_TRY();
		{
			entry->managed = ScanManaged(relid, &entry->column_mode);
		}
		PG_CATCH();
		{
			(void) hash_search(Relations, &relid, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry;
}

/*
 * ScanRegions reads locality.region_catalog (historic snapshot): this
 * server's region id (0 if absent) and whether region id target is listed.
 */
static int16
ScanRegions(int16 target, bool *target_listed)
{
	Oid			catalog_oid = RegionCatalogOid = LocalityRelation("region_catalog");
	Relation	catalog;
	SysScanDesc scan;
	HeapTuple	tup;
	int16		local_id = 0;

	*target_listed = false;
	if (!OidIsValid(catalog_oid))
		return 0;
	catalog = table_open(catalog_oid, AccessShareLock);
	scan = systable_beginscan(catalog, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		int16		id = DatumGetInt16(heap_getattr(tup, 1, RelationGetDescr(catalog), &isnull));
		Datum		name = heap_getattr(tup, 2, RelationGetDescr(catalog), &isnull);

		if (id == target)
			*target_listed = true;
		if (!isnull && LocalityRegionSetting != NULL &&
			strcmp(TextDatumGetCString(name), LocalityRegionSetting) == 0)
			local_id = id;
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return local_id;
}

/* A version 2 send once this many bytes are pending in a large transaction. */
#define BATCH_BYTES (64 * 1024)

/* Encodes msg at the end of out. */
static void
Encode(StringInfo out, const LocalityWireMessage *msg)
{
	LocalityStatus status;
	size_t		size;
	size_t		written;

	LocalityInitStatus(&status);
	if (!locality_wire_encoded_size(msg, &size, &status))
		LocalityRaiseStatus(&status, NULL);
	enlargeStringInfo(out, (int) size);
	if (!locality_wire_encode(msg, out->data + out->len, size, &written, &status))
		LocalityRaiseStatus(&status, NULL);
	out->len += (int) written;
	out->data[out->len] = '\0';
}

/*
 * Write sends msg: version 1, as one XLogData message; version 2, after the
 * transaction's messages so far (held until Flush).
 */
static void
Write(LogicalDecodingContext *ctx, const LocalityWireMessage *msg, bool last)
{
	DecoderState *state = ctx->output_plugin_private;

	if (state->batched)
	{
		Encode(state->pending, msg);
		return;
	}
	OutputPluginPrepareWrite(ctx, last);
	Encode(ctx->out, msg);
	OutputPluginWrite(ctx, last);
}

/*
 * RefuseWithoutExtension: a database where pg_locality was dropped feeds no
 * region, so a region that still lists this one cannot create (or stream
 * from) a slot here again after DROP EXTENSION removed them.
 */
static void
RefuseWithoutExtension(void)
{
	bool		own_xact = !IsTransactionState();
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		installed;
	char	   *dbname;

	if (own_xact)
		StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("pg_locality", true));
	dbname = MemoryContextStrdup(cxt, get_database_name(MyDatabaseId));
	if (own_xact)
	{
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	if (!installed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_locality\" is not installed in database \"%s\"",
						dbname),
				 errdetail("It was dropped here; this region no longer sends changes."),
				 errhint("Drop this region from the others with locality.drop_region().")));
}

/* The stamp BEGIN carries: stored by the transaction (hlc), else 0. */
static uint64
StoredStampOf(ReorderBufferTXN *txn)
{
	LocalityHlcStamp stamp;

	return LocalityFindStoredStamp(LocalityFullXid(txn->xid), &stamp) ? stamp.hlc : 0;
}

/*
 * Flush (version 2) sends the held STARTUP and BEGIN and the pending
 * messages as one XLogData message.  At the commit the transaction's
 * commit_stamps row, if any, has been decoded (at_commit); a send before
 * that (a large transaction) looks the stamp up as version 1 does.
 */
static void
Flush(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool at_commit)
{
	DecoderState *state = ctx->output_plugin_private;

	if (!state->startup_held && !state->begin_held && state->pending->len == 0)
		return;
	OutputPluginPrepareWrite(ctx, true);
	if (state->startup_held)
	{
		LocalityWireMessage msg;

		memset(&msg, 0, sizeof(msg));
		msg.type = LOCALITY_WIRE_STARTUP;
		msg.body.startup.version = (uint16_t) state->version;
		Encode(ctx->out, &msg);
		state->startup_held = false;
	}
	if (state->begin_held)
	{
		if (at_commit)
			state->begin.body.begin.hlc = state->stamp_seen ? state->stamp_hlc : 0;
		else
			state->begin.body.begin.hlc = StoredStampOf(txn);
		Encode(ctx->out, &state->begin);
		state->begin_held = false;
	}
	appendBinaryStringInfo(ctx->out, state->pending->data, state->pending->len);
	OutputPluginWrite(ctx, true);
	if (state->pending->maxlen > 4 * BATCH_BYTES)
	{
		/* A huge value went through: do not keep its buffer for the session. */
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(state->pending));

		pfree(state->pending->data);
		initStringInfo(state->pending);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(state->pending);
}

static void
Startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	DecoderState *state = MemoryContextAllocZero(ctx->context, sizeof(DecoderState));
	ListCell   *lc;
	int			client_min = -1;
	int			client_max = -1;
	LocalityStatus status;

	state->change_cxt = AllocSetContextCreate(ctx->context, "pg_locality change",
											  ALLOCSET_DEFAULT_SIZES);
	state->tomb_cxt = AllocSetContextCreate(ctx->context, "pg_locality tombstone",
											ALLOCSET_SMALL_SIZES);
	{
		MemoryContext old = MemoryContextSwitchTo(ctx->context);

		state->pending = makeStringInfo();
		MemoryContextSwitchTo(old);
	}
	ctx->output_plugin_private = state;
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;

	RefuseWithoutExtension();

	if (Relations == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(DecodedRelation);
		ctl.hcxt = CacheMemoryContext;
		Relations = hash_create("pg_locality decoded relations", 128, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(RelationInvalidated, (Datum) 0);
	}
	if (is_init)
		return;					/* slot creation: no options to check */

	/* Our slots are named pg_locality_r<target region>_d<database>. */
	{
		int			target;
		unsigned int db;

		if (sscanf(NameStr(ctx->slot->data.name), "pg_locality_r%d_d%u", &target, &db) == 2)
			state->target_region_id = (int16) target;
	}

	foreach(lc, ctx->output_plugin_options)
	{
		DefElem    *elem = lfirst(lc);

		if (strcmp(elem->defname, "protocol_version") == 0)
			client_max = pg_strtoint32(strVal(elem->arg));
		else if (strcmp(elem->defname, "min_protocol_version") == 0)
			client_min = pg_strtoint32(strVal(elem->arg));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is unknown to output plugin pg_locality",
							elem->defname)));
	}
	if (client_max < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("output plugin pg_locality needs option protocol_version")));
	if (client_min < 0)
		client_min = client_max;
	LocalityInitStatus(&status);
	if (!locality_wire_negotiate(client_min, client_max, &state->version, &status))
		LocalityRaiseStatus(&status, NULL);
	state->batched = state->version >= LOCALITY_WIRE_VERSION_BATCHED;
}

static void
Shutdown(LogicalDecodingContext *ctx)
{
}

/* Changes applied from another region are that region's to ship. */
static bool
FilterByOrigin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	return origin_id != InvalidRepOriginId;
}

static void
Begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DecoderState *state = ctx->output_plugin_private;

	state->begin_sent = false;	/* sent with the first managed change */
	state->begin_held = false;
	state->stamp_seen = false;
	resetStringInfo(state->pending);
	/* A tombstone goes with a DELETE of the same transaction only. */
	MemoryContextReset(state->tomb_cxt);
	state->tomb_relid = InvalidOid;
	state->tomb_crdt = NULL;
}

/* Sends STARTUP (once per stream) and BEGIN before the first change. */
static void
EnsureBegin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	DecoderState *state = ctx->output_plugin_private;
	LocalityWireMessage msg;

	if (state->begin_sent)
		return;
	if (!state->startup_sent)
	{
		if (state->batched)
			state->startup_held = true;	/* goes out first in Flush */
		else
		{
			memset(&msg, 0, sizeof(msg));
			msg.type = LOCALITY_WIRE_STARTUP;
			msg.body.startup.version = (uint16_t) state->version;
			Write(ctx, &msg, true);
		}
		state->startup_sent = true;
	}
	if (!RegionsKnown)
	{
		bool		listed;

		state->local_region_id = ScanRegions(state->target_region_id, &listed);
		/* A dropped region gets nothing more; its slot is then cleaned up. */
		if (state->target_region_id != 0 && !listed)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("region %d was dropped: slot \"%s\" feeds it no more",
							state->target_region_id, NameStr(ctx->slot->data.name))));
		RegionsKnown = true;
	}
	memset(&msg, 0, sizeof(msg));
	msg.type = LOCALITY_WIRE_BEGIN;
	msg.body.begin.final_lsn = txn->final_lsn;
	msg.body.begin.commit_time = txn->xact_time.commit_time;
	msg.body.begin.xid = txn->xid;
	msg.body.begin.origin_region_id = (uint16_t) state->local_region_id;
	/*
	 * The stored stamp of a transaction that wrote a GLOBAL table; 0 when
	 * there is none: the stamp is then derived from the commit time and this
	 * region, by the receiver as by every lookup here (stamps.c).  Version
	 * 2 holds BEGIN until Flush, which fills it in.
	 */
	if (state->batched)
	{
		state->begin = msg;
		state->begin_held = true;
	}
	else
	{
		msg.body.begin.hlc = StoredStampOf(txn);
		Write(ctx, &msg, true);
	}
	state->begin_sent = true;
}

static void
Commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	DecoderState *state = ctx->output_plugin_private;
	LocalityWireMessage msg;

	if (!state->begin_sent)
		return;					/* nothing of ours in it */
	memset(&msg, 0, sizeof(msg));
	msg.type = LOCALITY_WIRE_COMMIT;
	msg.body.commit.commit_lsn = commit_lsn;
	msg.body.commit.end_lsn = txn->end_lsn;
	msg.body.commit.commit_time = txn->xact_time.commit_time;
	Write(ctx, &msg, true);
	if (state->batched)
		Flush(ctx, txn, true);
	state->begin_sent = false;
}

/* True for the columns that travel: not dropped, not generated. */
static bool
Travels(Form_pg_attribute attr)
{
	return !attr->attisdropped && !attr->attgenerated;
}

/* Sends rel's RELATION message. */
static void
SendSchema(LogicalDecodingContext *ctx, Relation rel, DecodedRelation *entry)
{
	TupleDesc	desc = RelationGetDescr(rel);
	LocalityWireAttr *attrs = palloc0(sizeof(LocalityWireAttr) * Max(desc->natts, 1));
	Bitmapset  *key = RelationGetIdentityKeyBitmap(rel);
	LocalityWireMessage msg;
	int			n = 0;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		char	   *type;

		if (!Travels(attr))
			continue;
		type = format_type_be_qualified(attr->atttypid);
		attrs[n].flags = bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, key) ?
			LOCALITY_WIRE_ATTR_KEY : 0;
		attrs[n].name.data = NameStr(attr->attname);
		attrs[n].name.len = strlen(NameStr(attr->attname));
		attrs[n].type_name.data = type;
		attrs[n].type_name.len = strlen(type);
		attrs[n].typmod = attr->atttypmod;
		n++;
	}
	memset(&msg, 0, sizeof(msg));
	msg.type = LOCALITY_WIRE_RELATION;
	msg.body.relation.relid = RelationGetRelid(rel);
	msg.body.relation.replident = rel->rd_rel->relreplident;
	msg.body.relation.schema.data = get_namespace_name(RelationGetNamespace(rel));
	msg.body.relation.schema.len = strlen(msg.body.relation.schema.data);
	msg.body.relation.table.data = RelationGetRelationName(rel);
	msg.body.relation.table.len = strlen(msg.body.relation.table.data);
	msg.body.relation.natts = (uint16_t) n;
	msg.body.relation.attrs = attrs;
	Write(ctx, &msg, true);
	entry->schema_sent = true;
}

/*
 * Sends rel's RELATION message unless this stream already has it (checked
 * first: building it opens the replica identity index).
 */
static inline void
EnsureSchema(LogicalDecodingContext *ctx, Relation rel, DecodedRelation *entry)
{
	if (!entry->schema_sent)
		SendSchema(ctx, rel, entry);
}

/*
 * TupleColumns fills cols with tuple's travelling columns as text; a
 * TOASTed value not in the WAL (unchanged by an UPDATE) is 'u'.
 */
static uint16_t
TupleColumns(Relation rel, DecodedRelation *entry, HeapTuple tuple, bool key_only,
			 LocalityWireColumn *cols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Bitmapset  *key = key_only ? RelationGetIdentityKeyBitmap(rel) : NULL;
	Datum	   *values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(desc->natts, 1));
	uint16_t	n = 0;
	int			i;

	/* Output functions are looked up once per relation, not per value. */
	if (entry->output == NULL)
	{
		FmgrInfo   *output = MemoryContextAllocZero(CacheMemoryContext,
													sizeof(FmgrInfo) * Max(desc->natts, 1));
		bool	   *varlena = MemoryContextAllocZero(CacheMemoryContext,
													 sizeof(bool) * Max(desc->natts, 1));

		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);
			Oid			func;

			if (!Travels(attr))
				continue;
			getTypeOutputInfo(attr->atttypid, &func, &varlena[i]);
			fmgr_info_cxt(func, &output[i], CacheMemoryContext);
		}
		entry->output = output;
		entry->varlena = varlena;
	}

	heap_deform_tuple(tuple, desc, values, isnull);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		Datum		value = values[i];
		char	   *text;

		if (!Travels(attr))
			continue;
		cols[n].kind = LOCALITY_WIRE_COLUMN_NULL;
		cols[n].data = NULL;
		cols[n].len = 0;
		if (isnull[i] ||
			(key_only && !bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, key)))
		{
			n++;
			continue;
		}
		if (entry->varlena[i] && VARATT_IS_EXTERNAL_ONDISK(value))
			cols[n].kind = LOCALITY_WIRE_COLUMN_UNCHANGED;
		else
		{
			if (entry->varlena[i])
				value = PointerGetDatum(PG_DETOAST_DATUM(value));
			text = OutputFunctionCall(&entry->output[i], value);
			cols[n].kind = LOCALITY_WIRE_COLUMN_TEXT;
			cols[n].data = text;
			cols[n].len = strlen(text);
		}
		n++;
	}
	return n;
}

/*
 * OnlyWrittenColumns: in last_write_wins_column mode an UPDATE carries only
 * the columns its transaction wrote (and the key); the others travel as
 * unchanged, so the receiver does not take them for newer writes.
 */
static void
OnlyWrittenColumns(Relation rel, ReorderBufferTXN *txn, HeapTuple tuple, LocalityWireColumn *cols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool	   *written = palloc0(sizeof(bool) * Max(desc->natts, 1));
	Bitmapset  *key = RelationGetIdentityKeyBitmap(rel);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	int			n = 0;
	int			i;

	ExecStoreHeapTuple(tuple, slot, false);
	if (LocalityColumnsWrittenBy(rel, slot, txn->xid, written))
	{
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);

			if (!Travels(attr))
				continue;
			if (!written[i] && !bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, key))
			{
				cols[n].kind = LOCALITY_WIRE_COLUMN_UNCHANGED;
				cols[n].data = NULL;
				cols[n].len = 0;
			}
			n++;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * StashTombstone keeps the CRDT state of a tombstone this transaction wrote
 * (the delete trigger writes it just before the row's DELETE, tombstones.c).
 */
static void
StashTombstone(DecoderState *state, Relation tomb, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(tomb);
	AttrNumber	att = attnameAttNum(tomb, "crdt_values", false);
	bool		isnull;
	Datum		crdt;
	MemoryContext old;
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	int			i;

	MemoryContextReset(state->tomb_cxt);
	state->tomb_relid = InvalidOid;
	state->tomb_crdt = NULL;
	if (tuple == NULL || att == InvalidAttrNumber)
		return;
	crdt = heap_getattr(tuple, att, desc, &isnull);
	if (isnull)
		return;
	old = MemoryContextSwitchTo(state->tomb_cxt);
	state->tomb_relid = DatumGetObjectId(heap_getattr(tuple, 1, desc, &isnull));
	state->tomb_key = TextDatumGetCString(heap_getattr(tuple, 2, desc, &isnull));
	deconstruct_array(DatumGetArrayTypeP(crdt), BYTEAOID, -1, false, TYPALIGN_INT,
					  &elems, &enulls, &n);
	state->tomb_natts = n;
	state->tomb_crdt = palloc0(sizeof(bytea *) * Max(n, 1));
	for (i = 0; i < n; i++)
		state->tomb_crdt[i] = enulls[i] ? NULL :
			(bytea *) pg_detoast_datum_copy((struct varlena *) DatumGetPointer(elems[i]));
	MemoryContextSwitchTo(old);
}

/*
 * DeletedCrdt: a DELETE of rel carries, in its old tuple's CRDT columns,
 * the key's state as the delete left it (what it observed reset), taken
 * from the tombstone the same transaction wrote just before; every region
 * merges it, so each resets exactly what this one observed
 * (docs/conflicts.md section 5).  Columns stay NULL when there is none.
 */
static void
DeletedCrdt(DecoderState *state, Relation rel, DecodedRelation *entry, HeapTuple old_tuple,
			LocalityWireColumn *cols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot;
	bool		same;
	int			n = 0;
	int			i;

	if (state->tomb_crdt == NULL || state->tomb_relid != RelationGetRelid(rel))
		return;
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
	ExecStoreHeapTuple(old_tuple, slot, false);
	same = strcmp(LocalityRowKey(rel, slot), state->tomb_key) == 0;
	ExecDropSingleTupleTableSlot(slot);
	if (!same)
		return;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!Travels(attr))
			continue;
		if (i < state->tomb_natts && state->tomb_crdt[i] != NULL &&
			LocalityCrdtKindOfType(attr->atttypid) != 0)
		{
			char	   *text = OutputFunctionCall(&entry->output[i],
												  PointerGetDatum(state->tomb_crdt[i]));

			cols[n].kind = LOCALITY_WIRE_COLUMN_TEXT;
			cols[n].data = text;
			cols[n].len = strlen(text);
		}
		n++;
	}
	MemoryContextReset(state->tomb_cxt);
	state->tomb_relid = InvalidOid;
	state->tomb_crdt = NULL;
}

/*
 * NoteStamp: a row of locality.commit_stamps (xid, hlc, region_id, at) this
 * transaction wrote; its own (keyed by its full xid) is BEGIN's hlc.
 */
static void
NoteStamp(DecoderState *state, ReorderBufferTXN *txn, Relation stamps, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(stamps);
	bool		isnull;
	Datum		xid = heap_getattr(tuple, 1, desc, &isnull);

	if (isnull || DatumGetInt64(xid) != LocalityFullXid(txn->xid))
		return;
	state->stamp_hlc = (uint64) DatumGetInt64(heap_getattr(tuple, 2, desc, &isnull));
	state->stamp_seen = !isnull;
}

static void
Change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
	   ReorderBufferChange *change)
{
	DecoderState *state = ctx->output_plugin_private;
	DecodedRelation *entry = LookupRelation(RelationGetRelid(rel));
	MemoryContext old;
	LocalityWireMessage msg;
	int			natts = RelationGetDescr(rel)->natts;
	LocalityWireColumn *new_cols;
	LocalityWireColumn *old_cols;
	HeapTuple	new_tuple = change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : NULL;
	HeapTuple	old_tuple = change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : NULL;
	bool		full = rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL;

	if (!OidIsValid(TombstonesOid))
		TombstonesOid = LocalityRelation("tombstones");
	if (RelationGetRelid(rel) == TombstonesOid)
	{
		if (change->action == REORDER_BUFFER_CHANGE_INSERT ||
			change->action == REORDER_BUFFER_CHANGE_UPDATE)
			StashTombstone(state, rel, new_tuple);
		return;
	}
	if (!entry->managed)
	{
		if (!OidIsValid(CommitStampsOid))
			CommitStampsOid = LocalityRelation("commit_stamps");
		if (RelationGetRelid(rel) == CommitStampsOid && new_tuple != NULL &&
			(change->action == REORDER_BUFFER_CHANGE_INSERT ||
			 change->action == REORDER_BUFFER_CHANGE_UPDATE))
			NoteStamp(state, txn, rel, new_tuple);
		return;
	}

	old = MemoryContextSwitchTo(state->change_cxt);
	EnsureBegin(ctx, txn);
	EnsureSchema(ctx, rel, entry);
	new_cols = palloc(sizeof(LocalityWireColumn) * Max(natts, 1));
	old_cols = palloc(sizeof(LocalityWireColumn) * Max(natts, 1));
	memset(&msg, 0, sizeof(msg));

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			msg.type = LOCALITY_WIRE_INSERT;
			msg.body.insert.relid = RelationGetRelid(rel);
			msg.body.insert.new_tuple.natts = TupleColumns(rel, entry, new_tuple, false, new_cols);
			msg.body.insert.new_tuple.columns = new_cols;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			msg.type = LOCALITY_WIRE_UPDATE;
			msg.body.update.relid = RelationGetRelid(rel);
			if (old_tuple != NULL)
			{
				msg.body.update.old_kind = full ? LOCALITY_WIRE_OLD_FULL : LOCALITY_WIRE_OLD_KEY;
				msg.body.update.old_tuple.natts = TupleColumns(rel, entry, old_tuple, !full, old_cols);
				msg.body.update.old_tuple.columns = old_cols;
			}
			else
				msg.body.update.old_kind = LOCALITY_WIRE_OLD_NONE;
			msg.body.update.new_tuple.natts = TupleColumns(rel, entry, new_tuple, false, new_cols);
			msg.body.update.new_tuple.columns = new_cols;
			if (entry->column_mode)
				OnlyWrittenColumns(rel, txn, new_tuple, new_cols);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			if (old_tuple == NULL)
				break;			/* no replica identity: nothing to find it by */
			msg.type = LOCALITY_WIRE_DELETE;
			msg.body.del.relid = RelationGetRelid(rel);
			msg.body.del.old_kind = full ? LOCALITY_WIRE_OLD_FULL : LOCALITY_WIRE_OLD_KEY;
			msg.body.del.old_tuple.natts = TupleColumns(rel, entry, old_tuple, !full, old_cols);
			msg.body.del.old_tuple.columns = old_cols;
			if (!full)
				DeletedCrdt(state, rel, entry, old_tuple, old_cols);
			break;
		default:
			break;
	}
	if (msg.type != 0)
		Write(ctx, &msg, true);
	if (state->batched && state->pending->len >= BATCH_BYTES)
		Flush(ctx, txn, false);
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_cxt);
}

static void
Truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
		 Relation relations[], ReorderBufferChange *change)
{
	DecoderState *state = ctx->output_plugin_private;
	MemoryContext old = MemoryContextSwitchTo(state->change_cxt);
	uint32_t   *relids = palloc(sizeof(uint32_t) * Max(nrelations, 1));
	LocalityWireMessage msg;
	int			n = 0;
	int			i;

	for (i = 0; i < nrelations; i++)
	{
		DecodedRelation *entry = LookupRelation(RelationGetRelid(relations[i]));

		if (!entry->managed)
			continue;
		EnsureBegin(ctx, txn);
		EnsureSchema(ctx, relations[i], entry);
		relids[n++] = RelationGetRelid(relations[i]);
	}
	if (n > 0)
	{
		memset(&msg, 0, sizeof(msg));
		msg.type = LOCALITY_WIRE_TRUNCATE;
		msg.body.truncate.flags =
			(change->data.truncate.cascade ? LOCALITY_WIRE_TRUNCATE_CASCADE : 0) |
			(change->data.truncate.restart_seqs ? LOCALITY_WIRE_TRUNCATE_RESTART_IDENTITY : 0);
		msg.body.truncate.nrels = (uint16_t) n;
		msg.body.truncate.relids = relids;
		Write(ctx, &msg, true);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_cxt);
}

/*
 * A transactional message with prefix LOCALITY_COMMIT_MARK (written by a
 * forwarded transaction whose commit another region tracks, see
 * pending_commits.c) makes the transaction's BEGIN and COMMIT travel even
 * when it changed no managed row (row locks only), so that region's apply
 * worker sees the commit of that xid.
 */
static void
Message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr message_lsn,
		bool transactional, const char *prefix, Size message_size, const char *message)
{
	if (transactional && txn != NULL && strcmp(prefix, LOCALITY_COMMIT_MARK) == 0)
		EnsureBegin(ctx, txn);
}

/*
 * _PG_output_plugin_init registers the callbacks of output plugin
 * pg_locality.
 */
void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = Startup;
	cb->begin_cb = Begin;
	cb->change_cb = Change;
	cb->truncate_cb = Truncate;
	cb->commit_cb = Commit;
	cb->message_cb = Message;
	cb->filter_by_origin_cb = FilterByOrigin;
	cb->shutdown_cb = Shutdown;
}
