/*
 * locality_core.h -- the one C API between the C shim and the C++ core.
 *
 * Only plain structs, buffers, integers and status codes cross this line
 * (ARCHITECTURE.md, "Layers and the C++/C boundary").  Every function is
 * noexcept on the C++ side, catches everything, and reports failure through
 * a LocalityStatus the shim turns into ereport() after the call returns, so
 * no PostgreSQL longjmp ever crosses a C++ frame and no C++ exception ever
 * reaches C.
 */
#ifndef LOCALITY_CORE_H
#define LOCALITY_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define LOCALITY_NOEXCEPT noexcept
extern "C" {
#else
#define LOCALITY_NOEXCEPT
#endif

/* Sizes of the plain text fields a status carries. */
#define LOCALITY_SQLSTATE_LEN 6     /* five characters and a NUL */
#define LOCALITY_MESSAGE_LEN 512

/*
 * LocalityStatus: result of every core call that can fail.
 *
 * ok is 1 on success.  On failure sqlstate holds the five-character
 * SQLSTATE ("22023"), and message/detail/hint the texts of the error, each
 * NUL-terminated and possibly empty; position, when non-zero, points into
 * the text a parser was given (the shim reports it as an internal query
 * position, so psql draws the caret under the offending token).  The shim raises it with
 * LocalityRaiseStatus() (src/shim/core_status.c).
 */
typedef struct LocalityStatus
{
	int			ok;
	char		sqlstate[LOCALITY_SQLSTATE_LEN];
	char		message[LOCALITY_MESSAGE_LEN];
	char		detail[LOCALITY_MESSAGE_LEN];
	char		hint[LOCALITY_MESSAGE_LEN];
	int			position;		/* 1-based character offset into the parsed
								 * text the error points at, 0 for none */
} LocalityStatus;

/* Longest region name (SPEC.md section 2); fits a NAMEDATALEN identifier. */
#define LOCALITY_REGION_NAME_MAX 63

/*
 * locality_region_name_validate: checks the region-name rule of SPEC.md
 * section 2 (1-63 characters of [a-z0-9-], starting with a letter).
 * Returns 1 when valid; otherwise 0 with status filled with 22023
 * `invalid region name "X"` and the rule as detail.  name may be NULL,
 * which counts as empty.
 */
int			locality_region_name_validate(const char *name,
										  LocalityStatus *status) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Table localities and CockroachDB DDL (SPEC.md section 3)
 * ----------------------------------------------------------------
 */

typedef enum LocalityKind
{
	LOCALITY_GLOBAL = 1,
	LOCALITY_REGIONAL_BY_TABLE = 2,
	LOCALITY_REGIONAL_BY_ROW = 3
} LocalityKind;

/* Longest identifier in bytes, as NAMEDATALEN - 1. */
#define LOCALITY_IDENT_MAX 63

/*
 * LocalitySpec: one table locality.  REGIONAL BY TABLE has either
 * in_primary_region = 1 and region "" or in_primary_region = 0 and a region;
 * column is set for REGIONAL BY ROW only.
 */
typedef struct LocalitySpec
{
	int			kind;			/* LocalityKind */
	int			in_primary_region;	/* REGIONAL BY TABLE following the
									 * primary region */
	char		region[LOCALITY_REGION_NAME_MAX + 1];	/* REGIONAL BY TABLE IN
														 * region, else "" */
	char		column[LOCALITY_IDENT_MAX + 1];	/* REGIONAL BY ROW column,
												 * "region" by default */
} LocalitySpec;

/*
 * locality_spec_parse: parses a locality text (GLOBAL, REGIONAL BY TABLE
 * [IN PRIMARY REGION | IN <region>], REGIONAL BY ROW [AS <column>], and
 * CockroachDB's REGIONAL [IN <region>]), case-insensitive.  out is zeroed
 * first and filled on success.  Errors: 22023 `invalid locality "..."` with
 * the accepted forms as hint and the offending token's position, 22023
 * `invalid region name`, 42622 for a column name over 63 bytes.  text may be
 * NULL, which counts as empty.
 */
int			locality_spec_parse(const char *text, LocalitySpec *out,
								LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_spec_format: writes the canonical upper-case text of spec into
 * buf, NUL-terminated: GLOBAL, REGIONAL BY TABLE IN PRIMARY REGION,
 * REGIONAL BY TABLE IN "eu-west1", REGIONAL BY ROW (column "region" or ""),
 * REGIONAL BY ROW AS "col".  When it does not fit in size bytes: 0 with
 * 54000 and buf "".  An inconsistent spec is 22023.
 */
int			locality_spec_format(const LocalitySpec *spec, char *buf, size_t size,
								 LocalityStatus *status) LOCALITY_NOEXCEPT;

typedef enum LocalityDdlKind
{
	LOCALITY_DDL_SET_LOCALITY = 1,
	LOCALITY_DDL_SET_PRIMARY_REGION,
	LOCALITY_DDL_ADD_REGION,
	LOCALITY_DDL_DROP_REGION
} LocalityDdlKind;

/* Conninfo buffer, NUL included. */
#define LOCALITY_CONNINFO_MAX 2048

/*
 * LocalityDdlStatement: one statement for locality.execute().  Names are
 * folded to lower case unless they were double-quoted.
 */
typedef struct LocalityDdlStatement
{
	int			kind;			/* LocalityDdlKind */
	char		schema_name[LOCALITY_IDENT_MAX + 1];	/* "" when the table name
														 * was unqualified */
	char		table_name[LOCALITY_IDENT_MAX + 1];
	char		database_name[LOCALITY_IDENT_MAX + 1];	/* ALTER DATABASE's, or
														 * the catalog of a
														 * db.schema.table name */
	char		region[LOCALITY_REGION_NAME_MAX + 1];
	int			missing_ok;		/* DROP REGION IF EXISTS / ADD REGION IF NOT
								 * EXISTS / ALTER TABLE IF EXISTS */
	LocalitySpec locality;		/* SET LOCALITY */
	char		conninfo[LOCALITY_CONNINFO_MAX];	/* ADD REGION ... CONNECTION */
} LocalityDdlStatement;

/*
 * locality_ddl_parse: parses one CockroachDB multi-region statement (one
 * optional trailing semicolon):
 *	 ALTER TABLE [IF EXISTS] [[db.]schema.]table SET LOCALITY <locality>
 *	 ALTER DATABASE d [SET] PRIMARY REGION r
 *	 ALTER DATABASE d ADD REGION [IF NOT EXISTS] r CONNECTION 'conninfo'
 *	 ALTER DATABASE d DROP REGION [IF EXISTS] r
 * out is zeroed first and stays zeroed on failure.  Errors: 42601 syntax
 * errors with position and an "Expected ..." hint, 42622 identifiers over
 * 63 bytes, 22023 invalid region names and conninfos over
 * LOCALITY_CONNINFO_MAX - 1 bytes (never truncated), 0A000 any other
 * statement (SHOW REGIONS included) and \u escapes in e'' strings, 22021 a
 * NUL escape.  Positions count UTF-8 characters.  sql may be NULL, which
 * counts as empty.
 */
int			locality_ddl_parse(const char *sql, LocalityDdlStatement *out,
							   LocalityStatus *status) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Replication wire protocol (ARCHITECTURE.md, component 3)
 *
 * The codec between the output plugin (encoder) and the apply workers
 * (decoder).  The byte layout is documented in
 * src/core/include/locality/wire_protocol.hpp and
 * docs/replication-protocol.md.
 * ----------------------------------------------------------------
 */

/*
 * Protocol versions this build speaks.  Version 2 has version 1's messages;
 * one XLogData payload may hold several of them back to back (a sender
 * batches a transaction's messages), see locality_wire_decode_next.
 */
#define LOCALITY_WIRE_VERSION_MIN 1
#define LOCALITY_WIRE_VERSION_MAX 2
/* The first version whose XLogData payloads may hold several messages. */
#define LOCALITY_WIRE_VERSION_BATCHED 2

/* Message types: the first byte of every message. */
typedef enum LocalityWireType
{
	LOCALITY_WIRE_STARTUP = 'S',
	LOCALITY_WIRE_BEGIN = 'B',
	LOCALITY_WIRE_COMMIT = 'C',
	LOCALITY_WIRE_RELATION = 'R',
	LOCALITY_WIRE_INSERT = 'I',
	LOCALITY_WIRE_UPDATE = 'U',
	LOCALITY_WIRE_DELETE = 'D',
	LOCALITY_WIRE_TRUNCATE = 'T'
} LocalityWireType;

/* Encoded sizes of the fixed-size messages. */
#define LOCALITY_WIRE_STARTUP_SIZE 3
#define LOCALITY_WIRE_BEGIN_SIZE 31
#define LOCALITY_WIRE_COMMIT_SIZE 26

/* Longest schema, table, column or type name (a u16 length on the wire). */
#define LOCALITY_WIRE_STRING_MAX 65535

/* Column kinds of a tuple. */
#define LOCALITY_WIRE_COLUMN_NULL 'n'
#define LOCALITY_WIRE_COLUMN_UNCHANGED 'u'	/* TOASTed, not sent: UPDATE's
											 * new tuple only */
#define LOCALITY_WIRE_COLUMN_TEXT 't'
#define LOCALITY_WIRE_COLUMN_BINARY 'b'

/* Old-tuple kinds of UPDATE and DELETE. */
#define LOCALITY_WIRE_OLD_KEY 'K'	/* replica identity columns, others 'n' */
#define LOCALITY_WIRE_OLD_FULL 'O'	/* the whole old row (REPLICA IDENTITY
									 * FULL) */
#define LOCALITY_WIRE_OLD_NONE 'N'	/* UPDATE only: no old tuple */

/* Replica identities: pg_class.relreplident's letters. */
#define LOCALITY_WIRE_REPLIDENT_DEFAULT 'd'
#define LOCALITY_WIRE_REPLIDENT_NOTHING 'n'
#define LOCALITY_WIRE_REPLIDENT_FULL 'f'
#define LOCALITY_WIRE_REPLIDENT_INDEX 'i'

/* Flag bits. */
#define LOCALITY_WIRE_ATTR_KEY 0x01 /* column is part of the replica identity */
#define LOCALITY_WIRE_TRUNCATE_CASCADE 0x01
#define LOCALITY_WIRE_TRUNCATE_RESTART_IDENTITY 0x02

/*
 * LocalityWireString: length-counted bytes, not NUL-terminated.  data may be
 * NULL when len is 0.
 */
typedef struct LocalityWireString
{
	const char *data;
	size_t		len;
} LocalityWireString;

/*
 * LocalityWireColumn: one value of a tuple.  data and len are used for 't'
 * and 'b' only (decoded 'n' and 'u' have data NULL and len 0).  A text
 * value holds no NUL byte and is not NUL-terminated.
 */
typedef struct LocalityWireColumn
{
	char		kind;			/* LOCALITY_WIRE_COLUMN_* */
	const char *data;
	uint32_t	len;
} LocalityWireColumn;

/*
 * LocalityWireTuple: one value per column of the RELATION message, in its
 * order.  columns may be NULL when natts is 0.
 */
typedef struct LocalityWireTuple
{
	uint16_t	natts;
	const LocalityWireColumn *columns;
} LocalityWireTuple;

/* 'S': first message of every stream, the version the sender chose. */
typedef struct LocalityWireStartup
{
	uint16_t	version;
} LocalityWireStartup;

typedef struct LocalityWireBegin
{
	uint64_t	final_lsn;		/* LSN of the transaction's commit record */
	int64_t		commit_time;	/* TimestampTz: microseconds since
								 * 2000-01-01 UTC */
	uint32_t	xid;
	uint16_t	origin_region_id;
	uint64_t	hlc;			/* hybrid logical clock, 0 if unknown */
} LocalityWireBegin;

typedef struct LocalityWireCommit
{
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	int64_t		commit_time;
	uint8_t		flags;			/* none defined: 0 */
} LocalityWireCommit;

typedef struct LocalityWireAttr
{
	uint8_t		flags;			/* LOCALITY_WIRE_ATTR_KEY */
	LocalityWireString name;
	LocalityWireString type_name;	/* format_type_be_qualified(): "integer",
									 * "locality.region" */
	int32_t		typmod;
} LocalityWireAttr;

typedef struct LocalityWireRelation
{
	uint32_t	relid;			/* the sender's OID: names the relation in
								 * later messages of the stream */
	char		replident;		/* LOCALITY_WIRE_REPLIDENT_* */
	LocalityWireString schema;
	LocalityWireString table;
	uint16_t	natts;
	const LocalityWireAttr *attrs;	/* may be NULL when natts is 0 */
} LocalityWireRelation;

typedef struct LocalityWireInsert
{
	uint32_t	relid;
	LocalityWireTuple new_tuple;
} LocalityWireInsert;

typedef struct LocalityWireUpdate
{
	uint32_t	relid;
	char		old_kind;		/* LOCALITY_WIRE_OLD_KEY, _FULL or _NONE */
	LocalityWireTuple old_tuple;	/* unused (natts 0) for _NONE */
	LocalityWireTuple new_tuple;
} LocalityWireUpdate;

typedef struct LocalityWireDelete
{
	uint32_t	relid;
	char		old_kind;		/* LOCALITY_WIRE_OLD_KEY or _FULL */
	LocalityWireTuple old_tuple;
} LocalityWireDelete;

typedef struct LocalityWireTruncate
{
	uint8_t		flags;			/* LOCALITY_WIRE_TRUNCATE_* */
	uint16_t	nrels;
	const uint32_t *relids;		/* may be NULL when nrels is 0 */
} LocalityWireTruncate;

/* LocalityWireMessage: one message; type selects the member of body. */
typedef struct LocalityWireMessage
{
	char		type;			/* LocalityWireType */
	union
	{
		LocalityWireStartup startup;
		LocalityWireBegin begin;
		LocalityWireCommit commit;
		LocalityWireRelation relation;
		LocalityWireInsert insert;
		LocalityWireUpdate update;
		LocalityWireDelete del;	/* "delete" is a C++ keyword */
		LocalityWireTruncate truncate;
	}			body;
} LocalityWireMessage;

/*
 * locality_wire_negotiate: picks the protocol version for a client (an apply
 * worker) that speaks client_min..client_max: the highest version both
 * sides speak.  The output plugin calls it at startup with the options
 * protocol_version (client_max) and min_protocol_version (client_min, which
 * defaults to protocol_version when absent).  Fails with 08P01
 * `pg_locality protocol version mismatch: server speaks 1..1, client asked
 * 2..3`, or 08P01 for client_min > client_max; *chosen is 0 then.
 */
int			locality_wire_negotiate(int client_min, int client_max, int *chosen,
									LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_wire_encoded_size: the exact number of bytes msg encodes to, in
 * *size; checks msg on the way (as locality_wire_encode does).  The output
 * plugin reserves that much with enlargeStringInfo() and then encodes into
 * the reserved space, so the core never calls palloc (which could longjmp
 * across C++ frames) and nothing is copied twice.  Errors: XX000 for a
 * message the protocol cannot express (unknown type or kind, a 'u' column
 * outside an UPDATE's new tuple, a NUL in a name or text value, unknown flag
 * bits, data NULL with len > 0), 54000 for a name over
 * LOCALITY_WIRE_STRING_MAX bytes or a message over SIZE_MAX.
 */
int			locality_wire_encoded_size(const LocalityWireMessage *msg, size_t *size,
									   LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_wire_encode: writes msg into out[0..cap) and its length into
 * *written.  Writes nothing (and *written = 0) on failure: the errors of
 * locality_wire_encoded_size, or 54000 when cap is too small.
 */
int			locality_wire_encode(const LocalityWireMessage *msg, char *out, size_t cap,
								 size_t *written, LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * LocalityWireDecoder: the reusable scratch space of one apply worker's
 * decoder (tuples' column arrays, relation attributes, truncated relids).
 * It grows to the widest message seen and then decodes without allocating.
 * Not thread-safe: one per stream.
 */
typedef struct LocalityWireDecoder LocalityWireDecoder;

/* locality_wire_decoder_create: a new decoder, or NULL with 53200. */
LocalityWireDecoder *locality_wire_decoder_create(LocalityStatus *status) LOCALITY_NOEXCEPT;

/* locality_wire_decoder_destroy: frees decoder; NULL is a no-op. */
void		locality_wire_decoder_destroy(LocalityWireDecoder *decoder) LOCALITY_NOEXCEPT;

/*
 * locality_wire_decode: decodes the one message in data[0..len) (a
 * CopyData payload after its 'w' header) into *out, which is zeroed first.
 *
 * Zero copy: names and values in *out point into data, and the column,
 * attribute and relid arrays into the decoder; both stay valid until data is
 * freed or the decoder decodes its next message, whichever comes first.
 *
 * Any malformed input (truncated, trailing bytes, unknown type or kind,
 * unknown flag bits, a NUL in a name or text value, a STARTUP version this
 * build does not speak) fails with 08P01, the byte offset in the detail;
 * it never reads outside data[0..len).  data may be NULL when len is 0.
 */
int			locality_wire_decode(LocalityWireDecoder *decoder, const char *data, size_t len,
								 LocalityWireMessage *out,
								 LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_wire_decode_next: decodes the first message in data[0..len) as
 * locality_wire_decode does, but more messages may follow it (a protocol
 * version 2 payload): its length goes to *consumed (0 on failure) and the
 * bytes after it are not looked at.  Call again at data + *consumed.
 */
int			locality_wire_decode_next(LocalityWireDecoder *decoder, const char *data, size_t len,
									  LocalityWireMessage *out, size_t *consumed,
									  LocalityStatus *status) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Sequences of managed tables (SPEC.md section 3)
 * ----------------------------------------------------------------
 */

/*
 * Every region's sequence behind a managed table's serial or identity column
 * steps by LOCALITY_SEQUENCE_STRIDE and hands out the values congruent to the
 * region's id modulo the stride, so regions never hand out the same value.
 * Region ids 1 to LOCALITY_SEQUENCE_STRIDE have distinct classes.
 */
#define LOCALITY_SEQUENCE_STRIDE 64

/*
 * locality_sequence_restart: the value a sequence restarts at when it joins
 * region_id's residue class: the smallest value of the class that is >= the
 * next unused value (last_value + 1 when is_called, else last_value) and >=
 * floor.  Errors: 54000 for a region id outside 1..LOCALITY_SEQUENCE_STRIDE,
 * 2200H when that value would exceed max_value.
 */
int			locality_sequence_restart(int64_t last_value, int is_called, int64_t floor,
									  int region_id, int64_t max_value, int64_t *restart,
									  LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_sequence_is_aligned: 1 when a sequence with that increment and
 * last_value already steps through region_id's class, else 0.
 */
int			locality_sequence_is_aligned(int64_t increment, int64_t last_value,
										 int region_id) LOCALITY_NOEXCEPT;

/*
 * locality_login_refusal: was a failed connection attempt refused by a
 * server that is up?  text is libpq's PQerrorMessage after the failure, the
 * connection made with PQERRORS_VERBOSE (server errors then read
 * "SEVERITY:  SQLSTATE: message" with DETAIL/HINT lines).  Returns 1 when
 * the last server error in text is a refusal (authentication failed, no
 * such role or database, too many connections: any SQLSTATE but classes 08
 * and 57, which say the server is not serving) and fills *refusal as a
 * failed status: its SQLSTATE, message, detail and hint.  Returns 0 (and
 * *refusal ok) when text holds no server error or one of classes 08/57.
 */
int			locality_login_refusal(const char *text, LocalityStatus *refusal) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Circuit breaker per remote region (ARCHITECTURE.md, component 5;
 * SPEC.md sections 1 and 7)
 *
 * The state is a plain struct the shim keeps in shared memory, under its
 * own lock; the core only reads and writes the struct it is handed.  Time
 * is passed in (microseconds, the shim's TimestampTz); the core reads no
 * clock.
 * ----------------------------------------------------------------
 */

/* States, as locality.region_status.breaker shows them. */
typedef enum LocalityBreakerState
{
	LOCALITY_BREAKER_CLOSED = 0,	/* calls go through */
	LOCALITY_BREAKER_OPEN = 1,	/* calls fail at once */
	LOCALITY_BREAKER_HALF_OPEN = 2	/* one trial call at a time */
} LocalityBreakerState;

/* What locality_breaker_allow decides for one call. */
typedef enum LocalityBreakerDecision
{
	LOCALITY_BREAKER_ALLOWED = 0,	/* closed: go ahead */
	LOCALITY_BREAKER_REJECTED = 1,	/* open (or a trial is running): fail at
									 * once */
	LOCALITY_BREAKER_TRIAL = 2	/* half-open: this call is the one trial;
								 * record its outcome */
} LocalityBreakerDecision;

/* Room for the reason of the last failure, NUL included. */
#define LOCALITY_BREAKER_REASON_LEN 256

/*
 * LocalityBreakerConfig: the settings, passed with every call so a reload
 * applies at once.  failure_threshold consecutive failures open the breaker
 * (locality.breaker_failure_threshold, >= 1); after reset_timeout_us open it
 * lets one trial call through (locality.breaker_reset_timeout, >= 0); a
 * trial with no outcome after trial_timeout_us (> 0) is presumed lost (its
 * backend died or was cancelled) and the next caller becomes the trial.
 */
typedef struct LocalityBreakerConfig
{
	int			failure_threshold;
	int64_t		reset_timeout_us;
	int64_t		trial_timeout_us;
} LocalityBreakerConfig;

/*
 * LocalityBreaker: one region's breaker.  Zeroed memory (or
 * locality_breaker_init) is a closed breaker with no history.  Times are 0
 * when never.
 */
typedef struct LocalityBreaker
{
	int			state;			/* LocalityBreakerState as last recorded;
								 * OPEN turns HALF_OPEN in allow once
								 * reset_timeout has passed */
	int			consecutive_failures;
	int64_t		opened_at;		/* when it (last) opened: "since when" */
	int			trial_running;	/* a trial call was let through */
	int64_t		trial_expires_at;
	int64_t		last_failure_at;
	char		last_failure[LOCALITY_BREAKER_REASON_LEN];	/* "why", NUL-terminated */
	int64_t		last_success_at;
} LocalityBreaker;

/* locality_breaker_init: a closed breaker with no history. */
void		locality_breaker_init(LocalityBreaker *breaker) LOCALITY_NOEXCEPT;

/*
 * locality_breaker_allow: may a call start at now?  Sets *decision (a
 * LocalityBreakerDecision).  Closed: ALLOWED.  Open before reset_timeout has
 * passed since opened_at: REJECTED (opened_at and last_failure say since
 * when and why).  After it: half-open, and the first caller gets TRIAL,
 * every other REJECTED until the trial's outcome is recorded or the trial
 * expires.  Errors (22023 for a config out of range, XX000 for a NULL
 * argument or a state no breaker can be in) leave *decision ALLOWED and the
 * breaker unchanged: a broken breaker must not cut a region off.
 */
int			locality_breaker_allow(LocalityBreaker *breaker, const LocalityBreakerConfig *config,
								   int64_t now, int *decision,
								   LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_breaker_record: the outcome of a call that reached the region or
 * failed to.  A success closes the breaker from half-open and clears the
 * failure count; a failure (reason: libpq's message, may be NULL) counts,
 * opens a closed breaker at the threshold and re-opens a half-open one with
 * opened_at = now.  An open breaker only notes outcomes (last failure,
 * last success): it waits for its trial.  Errors as locality_breaker_allow.
 */
int			locality_breaker_record(LocalityBreaker *breaker, const LocalityBreakerConfig *config,
									int64_t now, int success, const char *reason,
									LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_breaker_state_at: the state a caller would meet at now, without
 * changing anything (OPEN shows as HALF_OPEN once reset_timeout has passed).
 * For status views; a corrupt breaker or config reads as CLOSED.
 */
int			locality_breaker_state_at(const LocalityBreaker *breaker,
									  const LocalityBreakerConfig *config,
									  int64_t now) LOCALITY_NOEXCEPT;

/* locality_breaker_state_name: "closed", "open", "half-open" ("unknown"). */
const char *locality_breaker_state_name(int state) LOCALITY_NOEXCEPT;

/* ----------------------------------------------------------------
 * Conflict resolution for GLOBAL tables (SPEC.md section 5, issue 5):
 * the hybrid logical clock, the decision function of the apply worker,
 * and the CRDT column types.  docs/conflicts.md has the correctness
 * argument; the C++ headers locality/hlc.hpp, conflict.hpp and crdt.hpp
 * the details.
 * ----------------------------------------------------------------
 */

/*
 * Hybrid logical clock.  A stamp is one uint64: the high 48 bits are
 * physical milliseconds since 1970-01-01 UTC, the low 16 bits a logical
 * counter.  A TimestampTz (microseconds since 2000-01-01) converts as
 * ts / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH.
 */
#define LOCALITY_HLC_LOGICAL_BITS 16
#define LOCALITY_HLC_MAX_PHYSICAL_MS ((UINT64_C(1) << 48) - 1)
#define LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH INT64_C(946684800000)
#define LOCALITY_HLC_PHYSICAL_MS(hlc) ((uint64_t) (hlc) >> LOCALITY_HLC_LOGICAL_BITS)
#define LOCALITY_HLC_LOGICAL(hlc) ((uint16_t) ((hlc) & 0xFFFF))

/*
 * LocalityHlc: one clock's whole state (the last stamp handed out, 0 when
 * new), plain data the shim keeps in shared memory.  Not thread-safe: the
 * caller holds its lock around every call.
 */
typedef struct LocalityHlc
{
	uint64_t	last;
} LocalityHlc;

/*
 * LocalityHlcStamp: the causal last-write-wins order of a write is
 * (hlc, region_id), compared lexicographically, so exact clock ties break
 * the same way on every region.
 */
typedef struct LocalityHlcStamp
{
	uint64_t	hlc;
	uint16_t	region_id;
} LocalityHlcStamp;

/*
 * locality_hlc_now: a stamp for a local commit, greater than every stamp
 * the clock handed out or observed before, into *stamp (may be NULL).  A
 * physical clock that goes backwards does not move the clock back.
 * Errors: 22008 physical_ms above LOCALITY_HLC_MAX_PHYSICAL_MS, 22003 a
 * clock at its last value; the clock is unchanged on failure.
 */
int			locality_hlc_now(LocalityHlc *clock, uint64_t physical_ms, uint64_t *stamp,
							 LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_hlc_update: observes received, the hlc of a change about to be
 * applied (0 = unknown, ignored), and stamps the receive event: *stamp
 * (may be NULL) is greater than received and than everything before, so a
 * local write made after the change is applied is stamped after it.
 * Errors: 55000 when received is more than max_skew_ms ahead of
 * physical_ms (the apply worker reports it and retries: it passes once the
 * local clock has caught up to within the bound), and those of
 * locality_hlc_now.  The clock is unchanged on failure.
 */
int			locality_hlc_update(LocalityHlc *clock, uint64_t received, uint64_t physical_ms,
								uint64_t max_skew_ms, uint64_t *stamp,
								LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * Persisting the clock across a restart (docs/conflicts.md section 8): the
 * shim keeps a mark on disk that is never below a stamp the clock handed
 * out or observed, written ahead like a sequence's cache.
 * locality_hlc_reservation: the mark to write before the clock, now at
 * last, may be used, when the mark on disk (reserved) does not cover it:
 * last plus window_ms milliseconds (saturating); 0 when reserved >= last
 * (nothing to write).
 * locality_hlc_restore: a clock starting from the mark read at startup
 * (0 when none) hands out only stamps above it.
 */
uint64_t	locality_hlc_reservation(uint64_t last, uint64_t reserved,
									 uint64_t window_ms) LOCALITY_NOEXCEPT;
void		locality_hlc_restore(LocalityHlc *clock, uint64_t mark) LOCALITY_NOEXCEPT;

/*
 * locality_hlc_commit: the stamp of a local commit at physical_ms when its
 * commit timestamp may stand for it (docs/conflicts.md section 8).  If the
 * clock has not run ahead of physical_ms (its last stamp is at most
 * physical_ms << 16), *derived = 1 and *stamp = physical_ms << 16, which
 * becomes the clock's last: the commit's stamp is then
 * locality_hlc_of_commit_time(its commit timestamp), taken later, so at
 * least *stamp and greater than every stamp observed from other regions;
 * nothing needs storing.  Otherwise *derived = 0 and *stamp (may be NULL)
 * is locality_hlc_now's, to be stored.  Errors those of locality_hlc_now.
 */
int			locality_hlc_commit(LocalityHlc *clock, uint64_t physical_ms, uint64_t *stamp,
								int *derived, LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_hlc_witness: the clock passes stamp, a derived commit's stamp
 * known once the commit timestamp is (last = max(last, stamp)).
 */
void		locality_hlc_witness(LocalityHlc *clock, uint64_t stamp) LOCALITY_NOEXCEPT;

/*
 * locality_hlc_of_commit_time: the stamp a commit timestamp stands for
 * (pg_timestamp_us: a TimestampTz, microseconds since 2000-01-01): its
 * millisecond, logical part 0.
 */
uint64_t	locality_hlc_of_commit_time(int64_t pg_timestamp_us) LOCALITY_NOEXCEPT;

/* locality_hlc_stamp_compare: -1, 0 or 1 as a is before, equal to or after b. */
int			locality_hlc_stamp_compare(const LocalityHlcStamp *a,
									   const LocalityHlcStamp *b) LOCALITY_NOEXCEPT;

/* Conflict resolution modes: locality.set_conflict_resolution()'s texts. */
typedef enum LocalityConflictMode
{
	LOCALITY_CONFLICT_LAST_WRITE_WINS = 1,	/* 'last_write_wins' (default) */
	LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN,	/* 'last_write_wins_column' */
	LOCALITY_CONFLICT_KEEP_LOCAL,	/* 'keep_local' */
	LOCALITY_CONFLICT_APPLY_REMOTE, /* 'apply_remote' */
	LOCALITY_CONFLICT_ERROR		/* 'error' */
} LocalityConflictMode;

/* What the remote change does to the row. */
typedef enum LocalityRemoteOp
{
	LOCALITY_REMOTE_WRITE = 1,	/* INSERT or UPDATE: a new tuple */
	LOCALITY_REMOTE_DELETE
} LocalityRemoteOp;

/* What the local side holds for the row's key. */
typedef enum LocalityLocalState
{
	LOCALITY_LOCAL_ROW = 1,		/* a row, stamped with its last write */
	LOCALITY_LOCAL_TOMBSTONE,	/* a deletion, stamped when it was made */
	LOCALITY_LOCAL_ABSENT		/* nothing known: the row never was here */
} LocalityLocalState;

/* The row-level outcome. */
typedef enum LocalityResolution
{
	LOCALITY_RESOLUTION_APPLY_REMOTE = 1,	/* the remote change wins */
	LOCALITY_RESOLUTION_KEEP_LOCAL, /* the local version wins */
	LOCALITY_RESOLUTION_COLUMNS,	/* each side wins some columns */
	LOCALITY_RESOLUTION_ERROR	/* mode 'error': stop on this change */
} LocalityResolution;

/* Per-column outcome of a remote write over a local row. */
typedef enum LocalityColumnChoice
{
	LOCALITY_CHOICE_KEEP_LOCAL = 1, /* keep the local value */
	LOCALITY_CHOICE_APPLY_REMOTE,	/* take the remote value */
	LOCALITY_CHOICE_MERGE		/* CRDT merge or the column's merge function */
} LocalityColumnChoice;

/* LocalityConflictColumn.flags */
#define LOCALITY_COLUMN_MERGE 0x01	/* a CRDT column or one with a merge
									 * function: always merged */
#define LOCALITY_COLUMN_EQUAL 0x02	/* local and remote values are equal */
#define LOCALITY_COLUMN_UNCHANGED 0x04	/* the remote value was not sent
										 * (unchanged TOASTed): keep local */

/*
 * LocalityConflictColumn: one column of the table, in attribute order.
 * The stamps say when each side's value was last written (for a local
 * tombstone in last_write_wins_column mode: the deleted row's columns);
 * they are read in last_write_wins_column mode only.
 */
typedef struct LocalityConflictColumn
{
	LocalityHlcStamp local;
	LocalityHlcStamp remote;
	uint8_t		flags;			/* LOCALITY_COLUMN_* */
} LocalityConflictColumn;

/*
 * LocalityConflict: one conflicting change.  local is the stamp of the
 * local row's last write (in last_write_wins_column mode the latest stamp
 * of every write applied to it) or of its tombstone, ignored for
 * LOCALITY_LOCAL_ABSENT;
 * remote is the stamp of the remote change.  columns describe the table's
 * columns for a remote write (the decision needs them for per-column
 * choices, merged columns, and mode 'error' to see whether the versions
 * differ at all); otherwise ncolumns may be 0.
 */
typedef struct LocalityConflict
{
	int			mode;			/* LocalityConflictMode */
	int			remote_op;		/* LocalityRemoteOp */
	int			local_state;	/* LocalityLocalState */
	LocalityHlcStamp local;
	LocalityHlcStamp remote;
	uint16_t	ncolumns;
	const LocalityConflictColumn *columns;	/* may be NULL when ncolumns is 0 */
} LocalityConflict;

/*
 * locality_conflict_resolve: decides conflict into *resolution and, for a
 * remote write, one LocalityColumnChoice per column into
 * choices[0..ncolumns) (may be NULL when ncolumns is 0).
 *
 * A remote write over a row: the row is updated when any choice is
 * APPLY_REMOTE or MERGE, whatever the resolution (CRDT columns are merged
 * even when the local version wins); the resolution (APPLY_REMOTE,
 * KEEP_LOCAL, or COLUMNS when each side won some) is what to log.  Over a
 * tombstone: APPLY_REMOTE inserts the row built from the choices (MERGE:
 * with the merged columns' state the tombstone kept; KEEP_LOCAL: the
 * tombstone's value, in column mode), KEEP_LOCAL leaves it deleted, the
 * tombstone's kept columns still taking the choices.  Over an absent row:
 * APPLY_REMOTE, insert the remote tuple.  A remote delete:
 * APPLY_REMOTE deletes the row, or records the later deletion stamp on a
 * tombstone or for an absent row; KEEP_LOCAL does nothing.  ERROR: stop on
 * this change.  The rules per mode are in locality/conflict.hpp.  Errors:
 * XX000 for values outside the enums or NULL arrays.
 */
int			locality_conflict_resolve(const LocalityConflict *conflict, uint8_t *choices,
									  int *resolution, LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_unique_conflict_resolve: a remote write of one key whose row
 * violates a unique index other than the key, against the local row of
 * another key holding the same value; only one of the two rows can stay.
 * *resolution: APPLY_REMOTE (the local row is deleted, the remote write
 * applied), KEEP_LOCAL (the remote write is not applied), ERROR (mode
 * 'error': stop on this change).  In both last-write-wins modes the row
 * whose write has the later stamp stays, the same on every region
 * (docs/conflicts.md section 3).  Errors: XX000 for a mode outside the enum.
 */
int			locality_unique_conflict_resolve(int mode, const LocalityHlcStamp *local,
											 const LocalityHlcStamp *remote, int *resolution,
											 LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_conflict_mode_parse: the mode named by text into *mode.
 * Errors: 22023 `invalid conflict resolution "x"` with the accepted
 * modes as hint.  text may be NULL, which counts as empty.
 */
int			locality_conflict_mode_parse(const char *text, int *mode,
										 LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_conflict_mode_name / locality_resolution_name: the text of a
 * mode ("last_write_wins") or resolution ("apply_remote", "keep_local",
 * "columns", "error"), as locality.conflicts shows it; NULL for a value
 * outside the enum.  Static strings.
 */
const char *locality_conflict_mode_name(int mode) LOCALITY_NOEXCEPT;
const char *locality_resolution_name(int resolution) LOCALITY_NOEXCEPT;

/*
 * CRDT column types: locality.gcounter, locality.pncounter, locality.orset.
 *
 * Values are byte strings in a compact, canonical binary encoding (the
 * stored datum and the send/recv form; layout in locality/crdt.hpp):
 * two states are equal exactly when their bytes are.  Functions that
 * produce a value write it into out[0..cap) and its length into *len.
 * With out NULL they only compute *len (a size query).  When cap is too
 * small they fail with 54000, *len still holding the size needed, and
 * out's contents unspecified.  The _BOUND macros give a size that always
 * suffices, so the hot paths can call once.  out must not overlap an
 * input.  Malformed input values fail with 22P03.
 */
typedef enum LocalityCrdtKind
{
	LOCALITY_CRDT_GCOUNTER = 1,
	LOCALITY_CRDT_PNCOUNTER = 2,
	LOCALITY_CRDT_ORSET = 3
} LocalityCrdtKind;

#define LOCALITY_CRDT_EMPTY_BOUND 2
/* Twice: a counter without floors merged with one with floors gains them. */
#define LOCALITY_CRDT_MERGE_BOUND(alen, blen) (2 * ((alen) + (blen)))
#define LOCALITY_COUNTER_ADD_BOUND(len) ((len) + 24)
#define LOCALITY_ORSET_ADD_BOUND(len, elen) ((len) + (elen) + 48)
#define LOCALITY_ORSET_REMOVE_BOUND(len) (len)

/*
 * LocalityRegionName: an id and its name, for the text forms, which print
 * region names where they are known (and ids otherwise) and read both.
 * name is NUL-terminated.
 */
typedef struct LocalityRegionName
{
	uint16_t	id;
	const char *name;
} LocalityRegionName;

/* LocalityCrdtElement: one orset element, not NUL-terminated. */
typedef struct LocalityCrdtElement
{
	const char *data;
	size_t		len;
} LocalityCrdtElement;

/* locality_crdt_empty: the empty state of kind (a counter at 0, no elements). */
int			locality_crdt_empty(int kind, char *out, size_t cap, size_t *len,
								LocalityStatus *status) LOCALITY_NOEXCEPT;

/* locality_crdt_validate: checks a value's bytes (what a recv function needs). */
int			locality_crdt_validate(int kind, const char *data, size_t len,
								   LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_crdt_merge: the join of two states (counters: per-region max;
 * orset: add-wins observed-remove).  Commutative, associative and
 * idempotent, so the order changes arrive in does not matter.
 */
int			locality_crdt_merge(int kind, const char *a, size_t alen, const char *b,
								size_t blen, char *out, size_t cap, size_t *len,
								LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_crdt_reset: what a DELETE of a row leaves of a CRDT column's
 * state a (docs/conflicts.md section 5): every increment and add a has
 * observed is reset (counters: each slot's floor rises to the slot; orset:
 * no elements, the seen clock kept), so merging the result with any state
 * cancels exactly those, and increments or adds concurrent with the delete
 * survive.  Idempotent; the value of the result is 0 or the empty set.
 * out needs at most LOCALITY_CRDT_RESET_BOUND(alen) bytes.
 */
#define LOCALITY_CRDT_RESET_BOUND(alen) (2 * (alen) + 1)
int			locality_crdt_reset(int kind, const char *a, size_t alen, char *out, size_t cap,
								size_t *len, LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_crdt_continue: an INSERT over the tombstone of its key: the
 * inserted value (its value, or its elements) becomes one change of region
 * on top of the tombstone's state base, so the key's state stays one
 * lineage (counters: value(base) + value(inserted), credited to region's
 * slot; orset: each inserted element added with a fresh tag of region).
 * Size with out NULL first (a size query).
 */
int			locality_crdt_continue(int kind, const char *base, size_t blen,
								   const char *inserted, size_t ilen, uint16_t region,
								   char *out, size_t cap, size_t *len,
								   LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_crdt_parse: a value's text form (the input function).  Reads
 * the full form locality_crdt_format writes and the plain forms of SPEC.md
 * section 5: an integer for counters, a text array literal '{a,b}' for
 * orset, credited to local_region (0 when this server's region is unknown:
 * then only a zero / empty plain value is accepted).  Regions are names
 * from names[0..nnames) (may be NULL) or numeric ids.  Errors: 22P02
 * syntax, 22003 a number out of range, 22023 a negative gcounter,
 * 22004 a NULL orset element, 42704 an unknown region name, 55000 a
 * plain value to credit with no local region.
 */
int			locality_crdt_parse(int kind, const char *text, uint16_t local_region,
								const LocalityRegionName *names, size_t nnames, char *out,
								size_t cap, size_t *len, LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_crdt_format: the full text form of a value (the output
 * function), NUL-terminated; *len excludes the NUL, so cap must be at
 * least *len + 1.  Examples: gcounter {us-east1:5,eu-west1:3},
 * pncounter {us-east1:5-2,eu-west1:3} (increments-decrements), orset
 * {|us-east1:4,eu-west1:3|a@us-east1:1,"b c"@eu-west1:3@us-east1:2}.
 */
int			locality_crdt_format(int kind, const char *data, size_t len,
								 const LocalityRegionName *names, size_t nnames, char *out,
								 size_t cap, size_t *outlen,
								 LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_counter_value: a gcounter's or pncounter's value into *value.
 * Errors: 22003 when it does not fit a bigint (concurrent increments can
 * take a merged sum past the range each region checked).
 */
int			locality_counter_value(int kind, const char *data, size_t len, int64_t *value,
								   LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_counter_add: c + delta, credited to region's slot.  Errors:
 * 22023 a negative delta for a gcounter, 22003 when the slot or the value
 * would leave the bigint range, 55000 region 0.
 */
int			locality_counter_add(int kind, const char *data, size_t len, uint16_t region,
								 int64_t delta, char *out, size_t cap, size_t *outlen,
								 LocalityStatus *status) LOCALITY_NOEXCEPT;

/* locality_pncounter_subtract: c - n for a pncounter (any n, INT64_MIN too). */
int			locality_pncounter_subtract(const char *data, size_t len, uint16_t region, int64_t n,
										char *out, size_t cap, size_t *outlen,
										LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_orset_add / locality_orset_remove: add element (a new tag of
 * region) or remove it (the tags this state has observed; an absent
 * element is a no-op).  element may be NULL when elen is 0; it must not
 * contain a NUL byte (22021).
 */
int			locality_orset_add(const char *data, size_t len, uint16_t region, const char *element,
							   size_t elen, char *out, size_t cap, size_t *outlen,
							   LocalityStatus *status) LOCALITY_NOEXCEPT;
int			locality_orset_remove(const char *data, size_t len, const char *element, size_t elen,
								  char *out, size_t cap, size_t *outlen,
								  LocalityStatus *status) LOCALITY_NOEXCEPT;

/* locality_orset_contains: *found = 1 when element is in the set, else 0. */
int			locality_orset_contains(const char *data, size_t len, const char *element,
									size_t elen, int *found,
									LocalityStatus *status) LOCALITY_NOEXCEPT;

/*
 * locality_orset_elements: the elements in byte order into out[0..cap)
 * and their number into *count (out NULL: the count only; 54000 when cap
 * is too small).  Zero copy: they point into data.
 */
int			locality_orset_elements(const char *data, size_t len, LocalityCrdtElement *out,
									size_t cap, size_t *count,
									LocalityStatus *status) LOCALITY_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif							/* LOCALITY_CORE_H */
