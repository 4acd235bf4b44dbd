/*
 * crdt_types.c -- the CRDT column types locality.gcounter,
 * locality.pncounter and locality.orset (080_crdt_types.sql, SPEC.md
 * section 5).
 *
 * A value is a varlena holding the core's compact, canonical binary
 * encoding (locality/crdt.hpp) after the header; the binary send/recv form
 * is that encoding too (validated on receive).  Every operation is a core
 * call (locality_crdt_*, locality_counter_*, locality_orset_*): the shim
 * only supplies the region ids and names from the catalog cache and turns
 * a failed status into an error.  Increments and adds are credited to the
 * local region (locality.region), which must have been added.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/crdt.h"

/* A value's encoded bytes, without the varlena header. */
#define CRDT_DATA(v) VARDATA_ANY(v)
#define CRDT_LEN(v) ((size_t) VARSIZE_ANY_EXHDR(v))

/*
 * RegionNames: the catalog's regions as the core's {id, name} array (for
 * the text forms), *count set.  Valid until the end of the transaction.
 */
static LocalityRegionName *
RegionNames(size_t *count)
{
	int			n;
	const LocalityRegion *regions = LocalityRegions(&n);
	LocalityRegionName *names;

	*count = (size_t) n;
	if (n == 0)
		return NULL;
	names = palloc(sizeof(LocalityRegionName) * n);
	for (int i = 0; i < n; i++)
	{
		names[i].id = (uint16_t) regions[i].id;
		names[i].name = regions[i].name;
	}
	return names;
}

/*
 * LocalRegionIfKnown: this server's region id, or 0 when it has not been
 * added (the input function then accepts only a zero / empty plain value,
 * and the core says so).
 */
static uint16_t
LocalRegionIfKnown(void)
{
	int			n;
	const LocalityRegion *regions = LocalityRegions(&n);

	for (int i = 0; i < n; i++)
		if (regions[i].is_local)
			return (uint16_t) regions[i].id;
	return 0;
}

/* LocalRegion: this server's region id; 55000 with a hint when unknown. */
static uint16_t
LocalRegion(void)
{
	return (uint16_t) LocalityLocalRegion()->id;
}

/*
 * NewValue: a varlena with room for cap bytes of encoding; the caller
 * passes VARDATA(result) to the core and then calls FinishValue.
 */
static bytea *
NewValue(size_t cap)
{
	return (bytea *) palloc(VARHDRSZ + cap);
}

static Datum
FinishValue(bytea *value, size_t len)
{
	SET_VARSIZE(value, VARHDRSZ + len);
	PG_RETURN_POINTER(value);
}

/*
 * CrdtIn: the text form (full or plain) of kind into a value.
 */
static Datum
CrdtIn(int kind, const char *text)
{
	LocalityStatus status;
	size_t		nnames;
	LocalityRegionName *names = RegionNames(&nnames);
	uint16_t	local = LocalRegionIfKnown();
	size_t		len = 0;
	bytea	   *value;

	LocalityInitStatus(&status);
	if (!locality_crdt_parse(kind, text, local, names, nnames, NULL, 0, &len, &status))
	{
		/* No local region to credit: say why (not added, or a bad setting). */
		if (local == 0 && strcmp(status.sqlstate, "55000") == 0)
			(void) LocalityLocalRegion();
		LocalityRaiseStatus(&status, NULL);
	}
	value = NewValue(len);
	LocalityInitStatus(&status);
	if (!locality_crdt_parse(kind, text, local, names, nnames, VARDATA(value), len, &len,
							 &status))
		LocalityRaiseStatus(&status, NULL);
	return FinishValue(value, len);
}

/*
 * CrdtOut: the full text form of a value.
 */
static char *
CrdtOut(int kind, bytea *value)
{
	LocalityStatus status;
	size_t		nnames;
	LocalityRegionName *names = RegionNames(&nnames);
	size_t		len = 0;
	char	   *out;

	LocalityInitStatus(&status);
	if (!locality_crdt_format(kind, CRDT_DATA(value), CRDT_LEN(value), names, nnames,
							  NULL, 0, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	out = palloc(len + 1);
	LocalityInitStatus(&status);
	if (!locality_crdt_format(kind, CRDT_DATA(value), CRDT_LEN(value), names, nnames,
							  out, len + 1, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	return out;
}

/*
 * CrdtRecv: the binary form is the encoding itself, checked by the core
 * (22P03 when malformed).
 */
static Datum
CrdtRecv(int kind, StringInfo buf)
{
	LocalityStatus status;
	int			nbytes = buf->len - buf->cursor;
	const char *data = pq_getmsgbytes(buf, nbytes);
	bytea	   *value;

	LocalityInitStatus(&status);
	if (!locality_crdt_validate(kind, data, (size_t) nbytes, &status))
		LocalityRaiseStatus(&status, NULL);
	value = NewValue(nbytes);
	memcpy(VARDATA(value), data, nbytes);
	return FinishValue(value, nbytes);
}

static Datum
CrdtSend(bytea *value)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, CRDT_DATA(value), CRDT_LEN(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * LocalityCrdtMerge: the join of two values of kind (also used by the
 * apply worker), palloc'd in the current memory context.
 */
bytea *
LocalityCrdtMerge(int kind, bytea *a, bytea *b)
{
	LocalityStatus status;
	size_t		cap = LOCALITY_CRDT_MERGE_BOUND(CRDT_LEN(a), CRDT_LEN(b));
	size_t		len = 0;
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_crdt_merge(kind, CRDT_DATA(a), CRDT_LEN(a), CRDT_DATA(b), CRDT_LEN(b),
							 VARDATA(value), cap, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	SET_VARSIZE(value, VARHDRSZ + len);
	return value;
}

/*
 * LocalityCrdtReset: what a delete leaves of a value (locality_crdt_reset).
 */
bytea *
LocalityCrdtReset(int kind, bytea *a)
{
	LocalityStatus status;
	size_t		cap = LOCALITY_CRDT_RESET_BOUND(CRDT_LEN(a));
	size_t		len = 0;
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_crdt_reset(kind, CRDT_DATA(a), CRDT_LEN(a), VARDATA(value), cap, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	SET_VARSIZE(value, VARHDRSZ + len);
	return value;
}

/*
 * LocalityCrdtContinue: a value inserted here over a tombstone's state base
 * (locality_crdt_continue), credited to the local region.
 */
bytea *
LocalityCrdtContinue(int kind, bytea *base, bytea *inserted)
{
	LocalityStatus status;
	size_t		len = 0;
	uint16_t	region = LocalRegion();
	bytea	   *value;

	LocalityInitStatus(&status);
	if (!locality_crdt_continue(kind, CRDT_DATA(base), CRDT_LEN(base), CRDT_DATA(inserted),
								CRDT_LEN(inserted), region, NULL, 0, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	value = NewValue(len);
	LocalityInitStatus(&status);
	if (!locality_crdt_continue(kind, CRDT_DATA(base), CRDT_LEN(base), CRDT_DATA(inserted),
								CRDT_LEN(inserted), region, VARDATA(value), len, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	SET_VARSIZE(value, VARHDRSZ + len);
	return value;
}

/*
 * LocalityCrdtKinds: per column (attnum - 1) of desc its LocalityCrdtKind
 * or 0, palloc'd; NULL when no column is of a CRDT type.
 */
int *
LocalityCrdtKinds(TupleDesc desc)
{
	int		   *kinds = NULL;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		int			kind = attr->attisdropped ? 0 : LocalityCrdtKindOfType(attr->atttypid);

		if (kind == 0)
			continue;
		if (kinds == NULL)
			kinds = palloc0(sizeof(int) * desc->natts);
		kinds[i] = kind;
	}
	return kinds;
}

/*
 * LocalityCrdtValues: the CRDT columns of slot (kinds from
 * LocalityCrdtKinds), detoasted, by attnum - 1; NULL entries for other
 * columns and NULL values.
 */
bytea **
LocalityCrdtValues(TupleTableSlot *slot, const int *kinds)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	bytea	  **values = palloc0(sizeof(bytea *) * Max(natts, 1));
	int			i;

	slot_getallattrs(slot);
	for (i = 0; i < natts; i++)
		if (kinds[i] != 0 && !slot->tts_isnull[i])
			values[i] = (bytea *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(slot->tts_values[i]));
	return values;
}

/* True when two values hold the same state (canonical encodings). */
bool
LocalityCrdtEqual(bytea *a, bytea *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return CRDT_LEN(a) == CRDT_LEN(b) && memcmp(CRDT_DATA(a), CRDT_DATA(b), CRDT_LEN(a)) == 0;
}

/*
 * LocalityCrdtKindOfType: looked up by name in schema locality (two
 * syscache lookups), so a dropped and re-created extension is no problem.
 */
int
LocalityCrdtKindOfType(Oid typid)
{
	HeapTuple	tuple;
	Form_pg_type type;
	int			kind = 0;

	if (typid < FirstNormalObjectId)
		return 0;
	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tuple))
		return 0;
	type = (Form_pg_type) GETSTRUCT(tuple);
	if (type->typnamespace == get_namespace_oid("locality", true))
	{
		if (strcmp(NameStr(type->typname), "gcounter") == 0)
			kind = LOCALITY_CRDT_GCOUNTER;
		else if (strcmp(NameStr(type->typname), "pncounter") == 0)
			kind = LOCALITY_CRDT_PNCOUNTER;
		else if (strcmp(NameStr(type->typname), "orset") == 0)
			kind = LOCALITY_CRDT_ORSET;
	}
	ReleaseSysCache(tuple);
	return kind;
}

static int64
CounterValue(int kind, bytea *value)
{
	LocalityStatus status;
	int64_t		result = 0;

	LocalityInitStatus(&status);
	if (!locality_counter_value(kind, CRDT_DATA(value), CRDT_LEN(value), &result, &status))
		LocalityRaiseStatus(&status, NULL);
	return (int64) result;
}

static Datum
CounterAdd(int kind, bytea *counter, int64 delta)
{
	LocalityStatus status;
	size_t		cap = LOCALITY_COUNTER_ADD_BOUND(CRDT_LEN(counter));
	size_t		len = 0;
	uint16_t	region = LocalRegion();
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_counter_add(kind, CRDT_DATA(counter), CRDT_LEN(counter), region, delta,
							  VARDATA(value), cap, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	return FinishValue(value, len);
}

/* The SQL-callable functions, one set per type. */

#define CRDT_IO_FUNCTIONS(prefix, kind) \
PG_FUNCTION_INFO_V1(locality_##prefix##_in); \
Datum \
locality_##prefix##_in(PG_FUNCTION_ARGS) \
{ \
	return CrdtIn(kind, PG_GETARG_CSTRING(0)); \
} \
PG_FUNCTION_INFO_V1(locality_##prefix##_out); \
Datum \
locality_##prefix##_out(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_CSTRING(CrdtOut(kind, PG_GETARG_BYTEA_PP(0))); \
} \
PG_FUNCTION_INFO_V1(locality_##prefix##_recv); \
Datum \
locality_##prefix##_recv(PG_FUNCTION_ARGS) \
{ \
	return CrdtRecv(kind, (StringInfo) PG_GETARG_POINTER(0)); \
} \
PG_FUNCTION_INFO_V1(locality_##prefix##_send); \
Datum \
locality_##prefix##_send(PG_FUNCTION_ARGS) \
{ \
	return CrdtSend(PG_GETARG_BYTEA_PP(0)); \
} \
PG_FUNCTION_INFO_V1(locality_##prefix##_merge); \
Datum \
locality_##prefix##_merge(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BYTEA_P(LocalityCrdtMerge(kind, PG_GETARG_BYTEA_PP(0), \
										PG_GETARG_BYTEA_PP(1))); \
}

CRDT_IO_FUNCTIONS(gcounter, LOCALITY_CRDT_GCOUNTER)
CRDT_IO_FUNCTIONS(pncounter, LOCALITY_CRDT_PNCOUNTER)
CRDT_IO_FUNCTIONS(orset, LOCALITY_CRDT_ORSET)

PG_FUNCTION_INFO_V1(locality_gcounter_value);

/* locality.value(gcounter) and gcounter::bigint. */
Datum
locality_gcounter_value(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(CounterValue(LOCALITY_CRDT_GCOUNTER, PG_GETARG_BYTEA_PP(0)));
}

PG_FUNCTION_INFO_V1(locality_pncounter_value);

/* locality.value(pncounter) and pncounter::bigint. */
Datum
locality_pncounter_value(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(CounterValue(LOCALITY_CRDT_PNCOUNTER, PG_GETARG_BYTEA_PP(0)));
}

PG_FUNCTION_INFO_V1(locality_gcounter_add);

/* gcounter + n: 22023 for a negative n, 22003 on overflow. */
Datum
locality_gcounter_add(PG_FUNCTION_ARGS)
{
	return CounterAdd(LOCALITY_CRDT_GCOUNTER, PG_GETARG_BYTEA_PP(0), PG_GETARG_INT64(1));
}

PG_FUNCTION_INFO_V1(locality_pncounter_add);

/* pncounter + n (n may be negative). */
Datum
locality_pncounter_add(PG_FUNCTION_ARGS)
{
	return CounterAdd(LOCALITY_CRDT_PNCOUNTER, PG_GETARG_BYTEA_PP(0), PG_GETARG_INT64(1));
}

PG_FUNCTION_INFO_V1(locality_pncounter_minus);

/* pncounter - n. */
Datum
locality_pncounter_minus(PG_FUNCTION_ARGS)
{
	bytea	   *counter = PG_GETARG_BYTEA_PP(0);
	int64		n = PG_GETARG_INT64(1);
	LocalityStatus status;
	size_t		cap = LOCALITY_COUNTER_ADD_BOUND(CRDT_LEN(counter));
	size_t		len = 0;
	uint16_t	region = LocalRegion();
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_pncounter_subtract(CRDT_DATA(counter), CRDT_LEN(counter), region, n,
									 VARDATA(value), cap, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	return FinishValue(value, len);
}

PG_FUNCTION_INFO_V1(locality_orset_add_element);

/* locality.add(orset, text): a new tag of the local region. */
Datum
locality_orset_add_element(PG_FUNCTION_ARGS)
{
	bytea	   *set = PG_GETARG_BYTEA_PP(0);
	text	   *element = PG_GETARG_TEXT_PP(1);
	size_t		elen = VARSIZE_ANY_EXHDR(element);
	LocalityStatus status;
	size_t		cap = LOCALITY_ORSET_ADD_BOUND(CRDT_LEN(set), elen);
	size_t		len = 0;
	uint16_t	region = LocalRegion();
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_orset_add(CRDT_DATA(set), CRDT_LEN(set), region, VARDATA_ANY(element), elen,
							VARDATA(value), cap, &len, &status))
		LocalityRaiseStatus(&status, NULL);
	return FinishValue(value, len);
}

PG_FUNCTION_INFO_V1(locality_orset_remove_element);

/* locality.remove(orset, text): cancels the adds this value has seen. */
Datum
locality_orset_remove_element(PG_FUNCTION_ARGS)
{
	bytea	   *set = PG_GETARG_BYTEA_PP(0);
	text	   *element = PG_GETARG_TEXT_PP(1);
	LocalityStatus status;
	size_t		cap = LOCALITY_ORSET_REMOVE_BOUND(CRDT_LEN(set));
	size_t		len = 0;
	bytea	   *value = NewValue(cap);

	LocalityInitStatus(&status);
	if (!locality_orset_remove(CRDT_DATA(set), CRDT_LEN(set), VARDATA_ANY(element),
							   VARSIZE_ANY_EXHDR(element), VARDATA(value), cap, &len,
							   &status))
		LocalityRaiseStatus(&status, NULL);
	return FinishValue(value, len);
}

PG_FUNCTION_INFO_V1(locality_orset_has_element);

/* orset @> text. */
Datum
locality_orset_has_element(PG_FUNCTION_ARGS)
{
	bytea	   *set = PG_GETARG_BYTEA_PP(0);
	text	   *element = PG_GETARG_TEXT_PP(1);
	LocalityStatus status;
	int			found = 0;

	LocalityInitStatus(&status);
	if (!locality_orset_contains(CRDT_DATA(set), CRDT_LEN(set), VARDATA_ANY(element),
								 VARSIZE_ANY_EXHDR(element), &found, &status))
		LocalityRaiseStatus(&status, NULL);
	PG_RETURN_BOOL(found != 0);
}

PG_FUNCTION_INFO_V1(locality_orset_element_array);

/* locality.elements(orset): the elements as text[], in byte order. */
Datum
locality_orset_element_array(PG_FUNCTION_ARGS)
{
	bytea	   *set = PG_GETARG_BYTEA_PP(0);
	LocalityStatus status;
	size_t		count = 0;
	LocalityCrdtElement *elements;
	Datum	   *datums;

	LocalityInitStatus(&status);
	if (!locality_orset_elements(CRDT_DATA(set), CRDT_LEN(set), NULL, 0, &count, &status))
		LocalityRaiseStatus(&status, NULL);
	if (count == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));

	elements = palloc(sizeof(LocalityCrdtElement) * count);
	LocalityInitStatus(&status);
	if (!locality_orset_elements(CRDT_DATA(set), CRDT_LEN(set), elements, count, &count,
								 &status))
		LocalityRaiseStatus(&status, NULL);

	datums = palloc(sizeof(Datum) * count);
	for (size_t i = 0; i < count; i++)
		datums[i] = PointerGetDatum(cstring_to_text_with_len(elements[i].data,
															 (int) elements[i].len));
	PG_RETURN_ARRAYTYPE_P(construct_array(datums, (int) count, TEXTOID, -1, false,
										  TYPALIGN_INT));
}
