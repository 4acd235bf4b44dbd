/*
 * table_locality.c -- table localities (SPEC.md section 3): checks a
 * requested locality against the table, adds, adopts or drops the region
 * column of REGIONAL BY ROW, moves the table's sequences into this region's
 * residue class, and writes the table's row of locality.table_catalog.
 *
 * The three doors -- locality.set_locality(), the locality reloption of
 * ALTER TABLE and CREATE TABLE (intercepted in ddl.c) and locality.execute()
 * (ddl.c) -- all end in LocalityChangeTableLocality().  The change is then
 * sent to every other region (LocalityPropagateLocalityChange), which runs
 * the same function itself; the DDL it runs internally is never sent on its
 * own.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/global_triggers.h"
#include "shim/safety_net.h"
#include "shim/stamps.h"
#include "shim/table_locality.h"

/*
 * The context of a locality change another region sends ahead of it
 * (locality._ddl_context): the region that ran the change, where rows that
 * had no home are homed, and the floor for the table's sequences.  Valid
 * for the rest of the transaction that received it.
 */
static LocalTransactionId ContextLxid = InvalidLocalTransactionId;
static char ContextOrigin[LOCALITY_REGION_NAME_MAX + 1];
static int64 ContextFloor = 0;

/* True when this session applies a change whose context was sent first. */
static bool
HaveContext(void)
{
	return LocalityIsRemoteApply() && ContextLxid != InvalidLocalTransactionId &&
		ContextLxid == MyProc->lxid;
}

/*
 * LocalityParseLocality parses text into spec; 22023 with the accepted
 * forms and a caret under the offending token otherwise.
 */
void
LocalityParseLocality(const char *text, LocalitySpec *spec)
{
	LocalityStatus status;

	LocalityInitStatus(&status);
	locality_spec_parse(text, spec, &status);
	LocalityRaiseStatus(&status, text);
}

/*
 * LocalityFormatLocality returns the canonical upper-case text of spec.
 */
char *
LocalityFormatLocality(const LocalitySpec *spec)
{
	LocalityStatus status;
	char		buf[256];

	LocalityInitStatus(&status);
	locality_spec_format(spec, buf, sizeof(buf), &status);
	LocalityRaiseStatus(&status, NULL);
	return pstrdup(buf);
}

/*
 * LocalityQualifiedTableName returns relid's quoted, schema-qualified name.
 */
char *
LocalityQualifiedTableName(Oid relid)
{
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);

	if (nspname == NULL || relname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return quote_qualified_identifier(nspname, relname);
}

/* The catalog's name of a locality kind (table_catalog.kind). */
static const char *
KindName(int kind)
{
	switch (kind)
	{
		case LOCALITY_GLOBAL:
			return "GLOBAL";
		case LOCALITY_REGIONAL_BY_TABLE:
			return "REGIONAL BY TABLE";
		case LOCALITY_REGIONAL_BY_ROW:
			return "REGIONAL BY ROW";
	}
	elog(ERROR, "invalid locality kind %d", kind);
	return NULL;				/* keep compiler quiet */
}

/* The OID of type locality.region. */
static Oid
RegionTypeOid(void)
{
	Oid			nsp = get_namespace_oid("locality", false);
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum("region"),
										ObjectIdGetDatum(nsp));

	if (!OidIsValid(typid))
		elog(ERROR, "type locality.region does not exist");
	return typid;
}

/* --- Sequences ----------------------------------------------------------- */

/* Reads last_value and is_called of sequence seqname (SPI connected). */
static void
ReadSequenceState(const char *seqname, int64 *last_value, bool *is_called)
{
	bool		isnull;

	if (SPI_execute(psprintf("SELECT last_value, is_called FROM %s", seqname), true, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read sequence %s", seqname);
	*last_value = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  1, &isnull));
	*is_called = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											2, &isnull));
}

/*
 * ColumnFloor returns one above the largest value stored in the integer
 * column that owns sequence seqid (rows may carry values the sequence never
 * handed out), or 0 when there is none.
 */
static int64
ColumnFloor(Oid seqid)
{
	Oid			relid;
	int32		attnum;
	Oid			atttype;
	char	   *attname;
	Datum		max;
	bool		isnull;

	if (!sequenceIsOwned(seqid, DEPENDENCY_AUTO, &relid, &attnum) &&
		!sequenceIsOwned(seqid, DEPENDENCY_INTERNAL, &relid, &attnum))
		return 0;
	atttype = get_atttype(relid, (AttrNumber) attnum);
	if (atttype != INT2OID && atttype != INT4OID && atttype != INT8OID)
		return 0;
	attname = get_attname(relid, (AttrNumber) attnum, false);
	if (SPI_execute(psprintf("SELECT max(%s)::pg_catalog.int8 FROM %s",
							 quote_identifier(attname), LocalityQualifiedTableName(relid)),
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the largest value of column \"%s\"", attname);
	max = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return 0;
	return DatumGetInt64(max) == PG_INT64_MAX ? PG_INT64_MAX : DatumGetInt64(max) + 1;
}

/*
 * LocalityAlignTableSequences moves the sequences owned by relid's columns
 * into this region's residue class (stride LOCALITY_SEQUENCE_STRIDE,
 * values congruent to the region id): RESTART at the first value of the
 * class above floor, above every value handed out and above every value in
 * the column, so no value is ever handed out twice, here or elsewhere.
 * Sequences already in the class are left alone.
 */
int64
LocalityAlignTableSequences(Oid relid, int64 floor)
{
	int			region_id = LocalityLocalRegion()->id;
	List	   *seqs = getOwnedSequences(relid);
	ListCell   *lc;
	int64		result = 0;

	if (seqs == NIL)
		return 0;

	SPI_connect();
	foreach(lc, seqs)
	{
		Oid			seqid = lfirst_oid(lc);
		HeapTuple	tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
		int64		increment;
		int64		max_value;
		int64		last_value;
		bool		is_called;
		int64		restart = 0;
		char	   *seqname;
		LocalityStatus status;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for sequence %u", seqid);
		increment = ((Form_pg_sequence) GETSTRUCT(tuple))->seqincrement;
		max_value = ((Form_pg_sequence) GETSTRUCT(tuple))->seqmax;
		ReleaseSysCache(tuple);

		seqname = LocalityQualifiedTableName(seqid);
		ReadSequenceState(seqname, &last_value, &is_called);
		if (locality_sequence_is_aligned(increment, last_value, region_id))
			continue;
		if (increment < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("descending sequence %s cannot serve a table with a locality",
							seqname),
					 errdetail("Each region's sequence steps up through its own residue class.")));

		LocalityInitStatus(&status);
		locality_sequence_restart(last_value, is_called, Max(floor, ColumnFloor(seqid)),
								  region_id, max_value, &restart, &status);
		if (!status.ok)
			ereport(ERROR,
					(errcode(ERRCODE_SEQUENCE_GENERATOR_LIMIT_EXCEEDED),
					 errmsg("sequence %s cannot move into region \"%s\"'s residue class",
							seqname, LocalityLocalRegion()->name),
					 errdetail_internal("%s %s", status.message, status.detail)));

		LocalityRunInternalDdl(psprintf("ALTER SEQUENCE %s INCREMENT BY %d RESTART WITH "
										INT64_FORMAT,
										seqname, LOCALITY_SEQUENCE_STRIDE, restart));
		result = Max(result, restart);
	}
	SPI_finish();
	return result;
}

/* --- The locality change ------------------------------------------------- */

/*
 * HomeOfExistingRows names the region rows get when a table becomes
 * REGIONAL BY ROW: the table's home when it had one, else the region that
 * ran the change (the sender's, when this session applies its change).
 */
static const char *
HomeOfExistingRows(const LocalityTable *old, const LocalityRegion *local)
{
	if (old != NULL && old->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
	{
		if (old->spec.in_primary_region)
		{
			const LocalityRegion *primary = LocalityPrimaryRegion();

			if (primary != NULL)
				return pstrdup(primary->name);
		}
		else
			return pstrdup(old->spec.region);
	}
	if (HaveContext())
		return ContextOrigin;
	return pstrdup(local->name);
}

/* Writes relid's row of locality.table_catalog (SPI connected). */
static void
WriteCatalogRow(Oid relid, int kind, LocalityRegionId home_id, const char *column,
				bool column_added)
{
	Oid			argtypes[5] = {OIDOID, TEXTOID, INT2OID, NAMEOID, BOOLOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(KindName(kind));
	if (home_id != InvalidLocalityRegionId)
		values[2] = Int16GetDatum(home_id);
	else
	{
		values[2] = (Datum) 0;
		nulls[2] = 'n';
	}
	if (column != NULL)
	{
		Name		name = palloc0(NAMEDATALEN);

		namestrcpy(name, column);
		values[3] = NameGetDatum(name);
	}
	else
	{
		values[3] = (Datum) 0;
		nulls[3] = 'n';
	}
	values[4] = BoolGetDatum(column_added);

	/*
	 * An UPDATE keeps the row's other columns (conflict_resolution).  No
	 * ON CONFLICT: the catalog is a user_catalog_table, which refuses it.
	 */
	if (LocalityCatalogExecute("UPDATE locality.table_catalog SET kind = $2, "
							   "home_region = $3, region_column = $4, column_added = $5 "
							   "WHERE relid = $1::pg_catalog.regclass",
							   5, argtypes, values, nulls) == 0)
		LocalityCatalogExecute("INSERT INTO locality.table_catalog "
							   "(relid, kind, home_region, region_column, column_added) "
							   "VALUES ($1::pg_catalog.regclass, $2, $3, $4, $5)",
							   5, argtypes, values, nulls);
}

/*
 * CheckTableCanBeManaged raises the errors of a table that cannot have a
 * locality: not the owner (42501), not an ordinary permanent table, or no
 * primary key / replica identity index (55000, SPEC.md section 7).
 */
static void
CheckTableCanBeManaged(Relation rel)
{
	const char *relname = RelationGetRelationName(rel);

	if (!pg_class_ownercheck(RelationGetRelid(rel), GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(rel->rd_rel->relkind),
					   relname);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only ordinary tables can have a locality.")));
	if (rel->rd_rel->relpersistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s table \"%s\" cannot have a locality",
						rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP ?
						"temporary" : "unlogged", relname),
				 errdetail("Regions receive a table's rows through the write-ahead log.")));
	if (!OidIsValid(RelationGetReplicaIndex(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", relname),
				 errdetail("A table with a locality needs a primary key or a replica "
						   "identity index, which identifies its rows in every region."),
				 errhint("Add a primary key, e.g. ALTER TABLE %s ADD PRIMARY KEY (...).",
						 quote_identifier(relname))));
}

/*
 * CheckRegionColumn checks that column attnum of rel can be the region
 * column: type locality.region (42804) and NOT NULL (55000).  Generated
 * columns are fine.
 */
static void
CheckRegionColumn(Relation rel, AttrNumber attnum, bool named_by_as)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	const char *relname = RelationGetRelationName(rel);
	const char *column = NameStr(att->attname);

	if (att->atttypid != RegionTypeOid())
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" is of type %s, not locality.region",
						column, relname, format_type_be(att->atttypid)),
				 named_by_as ?
				 errhint("The region column of a REGIONAL BY ROW table must be of type "
						 "locality.region.") :
				 errhint("Use REGIONAL BY ROW AS <column> to name a locality.region column, "
						 "or rename column \"%s\".", column)));
	if (!att->attnotnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of table \"%s\" must be NOT NULL to be its region column",
						column, relname),
				 errhint("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
						 quote_identifier(relname), quote_identifier(column))));
}

/*
 * LocalityChangeTableLocality gives table relid the locality spec here.
 *
 * Checks first (this region added, owner, table kind, primary key, home
 * region, region column), then: adds the region column of REGIONAL BY ROW
 * where absent (existing rows keep the home they had: the table's home when
 * it had one, else the region that ran the change), writes the catalog row,
 * drops a region column pg_locality had added when the table stops using
 * it, and moves the table's sequences into this region's residue class.
 */
int64
LocalityChangeTableLocality(Oid relid, const LocalitySpec *spec)
{
	const LocalityRegion *local = LocalityLocalRegion();
	const LocalityTable *found;
	LocalityTable old;
	bool		was_managed;
	Relation	rel;
	char	   *qualified;
	LocalityRegionId home_id = InvalidLocalityRegionId;
	const char *column = NULL;
	bool		add_column = false;
	bool		column_added = false;
	bool		drop_old_column;
	int64		floor;

	rel = table_open(relid, AccessExclusiveLock);
	CheckTableCanBeManaged(rel);

	if (spec->kind == LOCALITY_REGIONAL_BY_TABLE && !spec->in_primary_region)
		home_id = LocalityLookupRegion(spec->region)->id;

	found = LocalityFindTable(relid);
	was_managed = (found != NULL);
	if (was_managed)
		old = *found;
	else
		memset(&old, 0, sizeof(old));

	if (spec->kind == LOCALITY_REGIONAL_BY_ROW)
	{
		AttrNumber	attnum;

		column = spec->column[0] ? spec->column : LOCALITY_DEFAULT_REGION_COLUMN;
		attnum = get_attnum(relid, column);
		if (attnum == InvalidAttrNumber)
		{
			if (strcmp(column, LOCALITY_DEFAULT_REGION_COLUMN) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								column, RelationGetRelationName(rel)),
						 errhint("REGIONAL BY ROW AS <column> names an existing NOT NULL "
								 "column of type locality.region.")));
			add_column = true;
			column_added = true;
		}
		else
		{
			CheckRegionColumn(rel, attnum,
							  strcmp(column, LOCALITY_DEFAULT_REGION_COLUMN) != 0);
			column_added = was_managed && old.spec.kind == LOCALITY_REGIONAL_BY_ROW &&
				old.column_added && strcmp(old.spec.column, column) == 0;
		}
	}
	drop_old_column = was_managed && old.spec.kind == LOCALITY_REGIONAL_BY_ROW &&
		old.column_added &&
		(spec->kind != LOCALITY_REGIONAL_BY_ROW || strcmp(old.spec.column, column) != 0);

	/* ALTER TABLE refuses a table this session still has open. */
	table_close(rel, NoLock);
	qualified = LocalityQualifiedTableName(relid);

	SPI_connect();
	if (add_column)
	{
		const char *home = HomeOfExistingRows(was_managed ? &old : NULL, local);

		/* The constant default homes existing rows without rewriting them. */
		LocalityRunInternalDdl(psprintf("ALTER TABLE %s ADD COLUMN %s locality.region "
										"NOT NULL DEFAULT %s::locality.region",
										qualified, quote_identifier(column),
										quote_literal_cstr(home)));
		LocalityRunInternalDdl(psprintf("ALTER TABLE %s ALTER COLUMN %s "
										"SET DEFAULT locality.gateway_region()",
										qualified, quote_identifier(column)));
	}
	WriteCatalogRow(relid, spec->kind, home_id, column, column_added);
	LocalityInvalidateCatalogCache();
	LocalitySetHomeGuard(relid, spec->kind);
	LocalitySetGlobalTriggers(relid, spec->kind == LOCALITY_GLOBAL);
	if (drop_old_column)
		LocalityRunInternalDdl(psprintf("ALTER TABLE %s DROP COLUMN %s",
										qualified, quote_identifier(old.spec.column)));
	SPI_finish();

	floor = LocalityAlignTableSequences(relid, HaveContext() ? ContextFloor : 0);
	return floor;
}

/*
 * LocalityTableDefinitionIfMissing returns a DO block that creates table
 * relid, as it is now, on a region that does not have it (its schema,
 * sequences, columns, constraints and indexes, from
 * locality._table_copy_statements), or NULL when no region could lack it:
 * the table is managed already, or there is no other region.  Rows are not
 * copied: that is replication's initial sync.
 */
char *
LocalityTableDefinitionIfMissing(Oid relid)
{
	int			count;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		n;
	uint64		i;
	StringInfoData block;

	if (LocalityIsRemoteApply() || LocalityIsManagedTable(relid))
		return NULL;
	(void) LocalityRegions(&count);
	if (count < 2)
		return NULL;

	initStringInfo(&block);
	appendStringInfo(&block, "DO $locality$ BEGIN IF pg_catalog.to_regclass(%s) IS NULL THEN ",
					 quote_literal_cstr(LocalityQualifiedTableName(relid)));
	values[0] = ObjectIdGetDatum(relid);
	SPI_connect();
	/* As the extension's owner: the function reads the catalog. */
	n = LocalityCatalogExecute("SELECT statement "
							   "FROM locality._table_copy_statements($1::pg_catalog.regclass) "
							   "WITH ORDINALITY s(statement, n) ORDER BY n",
							   1, argtypes, values, NULL);
	for (i = 0; i < n; i++)
		appendStringInfo(&block, "EXECUTE %s; ",
						 quote_literal_cstr(SPI_getvalue(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1)));
	appendStringInfoString(&block, "END IF; END $locality$");
	SPI_finish();
	return block.data;
}

/*
 * LocalityPropagateLocalityChange sends the change to every other region:
 * the table's definition where it is missing, then the context (this region
 * and the sequence floor) so every region homes existing rows alike and no
 * sequence reuses a value, then the statement.
 */
void
LocalityPropagateLocalityChange(Oid relid, const LocalitySpec *spec, int64 sequence_floor,
								const char *statement, const char *definition)
{
	if (LocalityIsRemoteApply())
		return;
	if (statement == NULL)
		statement = psprintf("SELECT locality.set_locality(%s, %s)",
							 quote_literal_cstr(LocalityQualifiedTableName(relid)),
							 quote_literal_cstr(LocalityFormatLocality(spec)));
	if (definition != NULL)
		LocalityPropagateStatement(definition);
	LocalityPropagateStatement(psprintf("SELECT locality._ddl_context(%s, " INT64_FORMAT "); %s",
										quote_literal_cstr(LocalityLocalRegion()->name),
										sequence_floor, statement));
}

/* --- SQL functions ------------------------------------------------------- */

PG_FUNCTION_INFO_V1(locality_set_locality);

/*
 * locality_set_locality is locality.set_locality(tbl regclass, locality
 * text).
 */
Datum
locality_set_locality(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *locality;
	char	   *definition;
	LocalitySpec spec;
	int64		floor;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("locality must not be null")));
	relid = PG_GETARG_OID(0);
	locality = text_to_cstring(PG_GETARG_TEXT_PP(1));

	LocalityParseLocality(locality, &spec);
	/* Locked first: its definition is read before it changes. */
	LockRelationOid(relid, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	definition = LocalityTableDefinitionIfMissing(relid);
	floor = LocalityChangeTableLocality(relid, &spec);
	LocalityPropagateLocalityChange(relid, &spec, floor, NULL, definition);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(locality_ddl_context);

/*
 * locality_ddl_context is locality._ddl_context(origin_region text,
 * sequence_floor bigint), which a region sends ahead of a locality change
 * it propagates.  Only sessions applying another region's work may call it.
 */
Datum
locality_ddl_context(PG_FUNCTION_ARGS)
{
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LocalityStatus status;

	if (!LocalityIsRemoteApply())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("locality._ddl_context is internal to pg_locality")));
	LocalityInitStatus(&status);
	locality_region_name_validate(origin, &status);
	LocalityRaiseStatus(&status, NULL);

	strlcpy(ContextOrigin, origin, sizeof(ContextOrigin));
	ContextFloor = PG_GETARG_INT64(1);
	ContextLxid = MyProc->lxid;
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(locality_align_sequences);

/*
 * locality_align_sequences is locality._align_sequences(tbl regclass,
 * sequence_floor bigint): moves tbl's sequences into this region's residue
 * class above sequence_floor (for a region that receives a managed table's
 * definition).  Returns the floor other regions must respect.
 */
Datum
locality_align_sequences(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));
	if (!LocalityIsManagedTable(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no locality", get_rel_name(relid))));
	PG_RETURN_INT64(LocalityAlignTableSequences(relid, PG_GETARG_INT64(1)));
}

PG_FUNCTION_INFO_V1(locality_locality_text);

/*
 * locality_locality_text is locality._locality_text(kind text, home_region
 * text, region_column name): the canonical text locality.tables shows.
 */
Datum
locality_locality_text(PG_FUNCTION_ARGS)
{
	char	   *kind;
	LocalitySpec spec;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memset(&spec, 0, sizeof(spec));
	if (strcmp(kind, "GLOBAL") == 0)
		spec.kind = LOCALITY_GLOBAL;
	else if (strcmp(kind, "REGIONAL BY TABLE") == 0)
	{
		spec.kind = LOCALITY_REGIONAL_BY_TABLE;
		if (PG_ARGISNULL(1))
			spec.in_primary_region = 1;
		else
			strlcpy(spec.region, text_to_cstring(PG_GETARG_TEXT_PP(1)), sizeof(spec.region));
	}
	else if (strcmp(kind, "REGIONAL BY ROW") == 0)
	{
		spec.kind = LOCALITY_REGIONAL_BY_ROW;
		if (!PG_ARGISNULL(2))
			strlcpy(spec.column, NameStr(*PG_GETARG_NAME(2)), sizeof(spec.column));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid locality kind \"%s\"", kind)));
	PG_RETURN_TEXT_P(cstring_to_text(LocalityFormatLocality(&spec)));
}
