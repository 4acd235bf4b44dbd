/*
 * ddl.c -- pg_locality's DDL doors and the propagation of schema changes to
 * every region (SPEC.md section 3).
 *
 * A ProcessUtility hook
 *   - intercepts the locality reloption of CREATE TABLE ... WITH (...) and
 *     ALTER TABLE ... SET (...), removing it before PostgreSQL validates the
 *     reloptions, and gives the table that locality through the same code
 *     path as locality.set_locality() (table_locality.c);
 *   - sends every schema change of a managed table (ALTER TABLE, RENAME,
 *     SET SCHEMA, CREATE/DROP INDEX, DROP TABLE) to every other region after
 *     running it here, as the exact text of the one statement, through the
 *     distributed transaction of dist_xact.c.
 * An object-access hook keeps the region column of a REGIONAL BY ROW table
 * from being dropped and notices managed tables dropped by any statement, so
 * their catalog rows go too.  locality.execute() runs CockroachDB's
 * multi-region DDL through the same paths.
 *
 * Hot path: a statement whose node tag is not one of the few above, or that
 * names no managed table (a hash lookup, LocalityIsManagedTable) and carries
 * no locality option, goes straight to the previous ProcessUtility; the
 * object-access hook returns at once for anything but the drop of a managed
 * table or of one of its columns.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/restore.h"
#include "shim/safety_net.h"
#include "shim/table_locality.h"

/* The reloption pg_locality takes out of CREATE TABLE and ALTER TABLE. */
#define LOCALITY_RELOPTION "locality"

static ProcessUtility_hook_type PrevProcessUtility = NULL;
static object_access_hook_type PrevObjectAccess = NULL;

/* Nesting depth of DDL pg_locality runs itself (never propagated). */
static int	InternalDdlDepth = 0;

/* True while pg_locality itself (or its schema) is being dropped. */
static bool ExtensionDropping = false;

/* A managed table dropped by the statement running now. */
typedef struct DroppedTable
{
	Oid			relid;
	char	   *name;			/* schema-qualified, quoted */
} DroppedTable;

/* Managed tables the running statement dropped, in TopTransactionContext. */
static List *DroppedTables = NIL;

/* The arguments of one ProcessUtility call. */
typedef struct UtilityCall
{
	PlannedStmt *pstmt;
	const char *queryString;
	bool		readOnlyTree;
	ProcessUtilityContext context;
	ParamListInfo params;
	QueryEnvironment *queryEnv;
	DestReceiver *dest;
	QueryCompletion *qc;
} UtilityCall;

/* Runs call through the previous hook, or PostgreSQL's own code. */
static void
RunUtility(const UtilityCall *call)
{
	if (PrevProcessUtility)
		PrevProcessUtility(call->pstmt, call->queryString, call->readOnlyTree,
						   call->context, call->params, call->queryEnv, call->dest, call->qc);
	else
		standard_ProcessUtility(call->pstmt, call->queryString, call->readOnlyTree,
								call->context, call->params, call->queryEnv, call->dest,
								call->qc);
}

/* Runs call with its statement replaced by copy (a modified copy of it). */
static void
RunModifiedUtility(const UtilityCall *call, PlannedStmt *copy)
{
	UtilityCall modified = *call;

	modified.pstmt = copy;
	modified.readOnlyTree = false;
	RunUtility(&modified);
}

/*
 * StatementText cuts the text of call's single statement out of a query
 * string that may hold several.
 */
static char *
StatementText(const UtilityCall *call)
{
	int			location = call->pstmt->stmt_location;
	int			length = call->pstmt->stmt_len;
	int			total = (int) strlen(call->queryString);

	if (location < 0 || location > total)
	{
		location = 0;
		length = 0;
	}
	if (length <= 0 || location + length > total)
		length = total - location;
	/* Not the blanks around it in a multi-statement string. */
	while (length > 0 && isspace((unsigned char) call->queryString[location]))
	{
		location++;
		length--;
	}
	while (length > 0 && isspace((unsigned char) call->queryString[location + length - 1]))
		length--;
	return pnstrdup(call->queryString + location, length);
}

/*
 * LocalityInInternalDdl is true while pg_locality runs DDL itself.
 */
bool
LocalityInInternalDdl(void)
{
	return InternalDdlDepth > 0;
}

/*
 * LocalityRunInternalDdl runs sql (DDL pg_locality needs, such as adding
 * the region column) through SPI.  The hooks let it through untouched: the
 * receiving regions run the change that caused it themselves.
 */
void
LocalityRunInternalDdl(const char *sql)
{
	volatile int rc = 0;

	InternalDdlDepth++;
	PG_TRY();
	{
		rc = SPI_execute(sql, false, 0);
	}
	PG_FINALLY();
	{
		InternalDdlDepth--;
	}
	PG_END_TRY();
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "pg_locality: internal statement failed (%d): %s", rc, sql);
}

/*
 * LocalityPropagateStatement sends sql to every other region in the current
 * distributed transaction, unless this session applies another region's
 * work.  Logged at DEBUG1, which is how the tests see what is sent.
 */
void
LocalityPropagateStatement(const char *sql)
{
	if (LocalityIsRemoteApply())
		return;
	ereport(DEBUG1,
			(errmsg_internal("pg_locality: propagating to every other region: %s", sql)));
	LocalityPropagateToAll(sql);
}

/* Raises 55000 unless pg_locality is installed in this database. */
static void
RequireExtension(void)
{
	if (!OidIsValid(get_extension_oid("pg_locality", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_locality is not installed in database \"%s\"",
						get_database_name(MyDatabaseId)),
				 errhint("Run CREATE EXTENSION pg_locality first.")));
}

/* True when def is the locality reloption. */
static bool
IsLocalityOption(const DefElem *def)
{
	return def->defnamespace == NULL && strcmp(def->defname, LOCALITY_RELOPTION) == 0;
}

/* True when a reloption list has the locality option. */
static bool
HasLocalityOption(const List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		if (IsLocalityOption(lfirst_node(DefElem, lc)))
			return true;
	}
	return false;
}

/*
 * TakeLocalityOption removes the locality option from *options and returns
 * its value (22023 when it is given twice).
 */
static char *
TakeLocalityOption(List **options)
{
	List	   *kept = NIL;
	char	   *value = NULL;
	ListCell   *lc;

	foreach(lc, *options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (!IsLocalityOption(def))
		{
			kept = lappend(kept, def);
			continue;
		}
		if (value != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s\" specified more than once", LOCALITY_RELOPTION)));
		value = defGetString(def);
	}
	*options = kept;
	return value;
}

/* The table an index belongs to, or InvalidOid. */
static Oid
TableOfIndex(Oid indexid)
{
	if (!OidIsValid(indexid) || get_rel_relkind(indexid) != RELKIND_INDEX)
		return InvalidOid;
	return IndexGetRelation(indexid, true);
}

/* The relation rv names (search_path rules), or InvalidOid; takes no lock. */
static Oid
LookupRelation(RangeVar *rv)
{
	return rv == NULL ? InvalidOid : RangeVarGetRelid(rv, NoLock, true);
}

/* relid when it is a managed table, else InvalidOid. */
static Oid
Managed(Oid relid)
{
	return OidIsValid(relid) && LocalityIsManagedTable(relid) ? relid : InvalidOid;
}

/* --- CREATE TABLE ... WITH (locality = ...) ------------------------------ */

/*
 * CreateTableWithLocality creates the table without the locality option,
 * gives it the locality, and sends the statement to every other region.
 */
static void
CreateTableWithLocality(const UtilityCall *call)
{
	PlannedStmt *copy = copyObject(call->pstmt);
	CreateStmt *stmt = (CreateStmt *) copy->utilityStmt;
	char	   *locality;
	LocalitySpec spec;
	Oid			nspid;
	Oid			relid;

	RequireExtension();
	locality = TakeLocalityOption(&stmt->options);
	LocalityParseLocality(locality, &spec);
	(void) LocalityLocalRegion();	/* 55000 before anything is created */

	nspid = RangeVarGetCreationNamespace(stmt->relation);
	if (stmt->if_not_exists && OidIsValid(get_relname_relid(stmt->relation->relname, nspid)))
	{
		/* It exists: PostgreSQL skips it, and so do we. */
		RunModifiedUtility(call, copy);
		return;
	}

	RunModifiedUtility(call, copy);
	CommandCounterIncrement();
	relid = get_relname_relid(stmt->relation->relname, nspid);
	if (!OidIsValid(relid))
		elog(ERROR, "pg_locality: created table \"%s\" not found", stmt->relation->relname);
	(void) LocalityChangeTableLocality(relid, &spec);
	/* The statement creates it everywhere: nothing to home, no floor. */
	LocalityPropagateLocalityChange(relid, &spec, 0, StatementText(call), NULL);
}

/* --- ALTER TABLE --------------------------------------------------------- */

/* True when an ALTER TABLE sets or resets the locality option. */
static bool
AlterHasLocalityOption(const AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if ((cmd->subtype == AT_SetRelOptions || cmd->subtype == AT_ResetRelOptions) &&
			HasLocalityOption((List *) cmd->def))
			return true;
	}
	return false;
}

/*
 * CheckRegionColumnCommands refuses ALTER TABLE subcommands that would
 * leave a REGIONAL BY ROW table's region column unusable (55000).
 */
static void
CheckRegionColumnCommands(Oid relid, const AlterTableStmt *stmt)
{
	const LocalityTable *table = LocalityFindTable(relid);
	ListCell   *lc;

	if (table == NULL || table->spec.kind != LOCALITY_REGIONAL_BY_ROW)
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		const char *what;

		if (cmd->name == NULL || strcmp(cmd->name, table->spec.column) != 0)
			continue;
		if (cmd->subtype == AT_AlterColumnType)
			what = "change the type of";
		else if (cmd->subtype == AT_DropNotNull)
			what = "drop NOT NULL of";
		else
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s column \"%s\" of table \"%s\"", what, cmd->name,
						get_rel_name(relid)),
				 errdetail("It is the region column of a REGIONAL BY ROW table, which must "
						   "stay a NOT NULL locality.region column."),
				 errhint("Change the table's locality first.")));
	}
}

/*
 * AlterTableSetLocality runs an ALTER TABLE without its locality option
 * (not at all when that was all it did), then gives the table the locality
 * and sends the statement to every other region.
 */
static void
AlterTableSetLocality(const UtilityCall *call)
{
	PlannedStmt *copy = copyObject(call->pstmt);
	AlterTableStmt *stmt = (AlterTableStmt *) copy->utilityStmt;
	List	   *cmds = NIL;
	char	   *locality = NULL;
	char	   *definition;
	ListCell   *lc;
	LocalitySpec spec;
	Oid			relid;
	int64		floor;

	RequireExtension();
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_ResetRelOptions && HasLocalityOption((List *) cmd->def))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot reset the locality of a table"),
					 errhint("Give the table another locality with SET (locality = '...').")));
		if (cmd->subtype == AT_SetRelOptions && HasLocalityOption((List *) cmd->def))
		{
			List	   *options = (List *) cmd->def;
			char	   *value = TakeLocalityOption(&options);

			if (locality != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("parameter \"%s\" specified more than once",
								LOCALITY_RELOPTION)));
			locality = value;
			/* An empty SET () would be a syntax error; drop it instead. */
			if (options == NIL)
				continue;
			cmd->def = (Node *) options;
		}
		cmds = lappend(cmds, cmd);
	}
	stmt->cmds = cmds;
	LocalityParseLocality(locality, &spec);

	/* Locked first: its definition is read before the statement runs. */
	relid = RangeVarGetRelid(stmt->relation, AccessExclusiveLock, stmt->missing_ok);
	if (!OidIsValid(relid))
	{
		ereport(NOTICE,
				(errmsg("relation \"%s\" does not exist, skipping", stmt->relation->relname)));
		return;
	}
	if (Managed(relid))
		CheckRegionColumnCommands(relid, stmt);
	/* Before the statement: other regions replay it on this definition. */
	definition = LocalityTableDefinitionIfMissing(relid);
	if (cmds != NIL)
	{
		RunModifiedUtility(call, copy);
		CommandCounterIncrement();
	}
	floor = LocalityChangeTableLocality(relid, &spec);
	LocalityPropagateLocalityChange(relid, &spec, floor, StatementText(call), definition);
}

/* --- Other schema changes of managed tables ------------------------------ */

/*
 * ManagedTableOf returns the managed table a CREATE INDEX, ALTER TABLE,
 * ALTER INDEX, RENAME or ALTER ... SET SCHEMA changes, or InvalidOid.
 */
static Oid
ManagedTableOf(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_IndexStmt:
			return Managed(LookupRelation(((IndexStmt *) parsetree)->relation));
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;

				if (stmt->objtype == OBJECT_TABLE)
					return Managed(LookupRelation(stmt->relation));
				if (stmt->objtype == OBJECT_INDEX)
					return Managed(TableOfIndex(LookupRelation(stmt->relation)));
				return InvalidOid;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				switch (stmt->renameType)
				{
					case OBJECT_TABLE:
					case OBJECT_TABCONSTRAINT:
						return Managed(LookupRelation(stmt->relation));
					case OBJECT_COLUMN:
						if (stmt->relationType != OBJECT_TABLE)
							return InvalidOid;
						return Managed(LookupRelation(stmt->relation));
					case OBJECT_INDEX:
						return Managed(TableOfIndex(LookupRelation(stmt->relation)));
					default:
						return InvalidOid;
				}
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

				if (stmt->objectType != OBJECT_TABLE)
					return InvalidOid;
				return Managed(LookupRelation(stmt->relation));
			}
		default:
			return InvalidOid;
	}
}

/* Keeps table_catalog.region_column in step with a RENAME COLUMN. */
static void
FollowRegionColumnRename(Oid relid, const RenameStmt *stmt)
{
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	Name		name = palloc0(NAMEDATALEN);

	namestrcpy(name, stmt->newname);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(name);
	SPI_connect();
	LocalityCatalogExecute("UPDATE locality.table_catalog SET region_column = $2 "
						   "WHERE relid = $1::pg_catalog.regclass",
						   2, argtypes, values, NULL);
	SPI_finish();
	LocalityInvalidateCatalogCache();
}

/*
 * ManagedTableDdl runs a schema change of managed table relid here, keeps
 * the catalog in step (region column renames, sequences of new serial
 * columns), and sends the statement to every other region.
 */
static void
ManagedTableDdl(const UtilityCall *call, Oid relid)
{
	Node	   *parsetree = call->pstmt->utilityStmt;
	bool		renames_region_column = false;

	if (IsA(parsetree, IndexStmt) && ((IndexStmt *) parsetree)->concurrent)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("CREATE INDEX CONCURRENTLY is not supported on table \"%s\", "
						"which has a locality", get_rel_name(relid)),
				 errdetail("Schema changes of such tables run on every region in one transaction."),
				 errhint("Use CREATE INDEX without CONCURRENTLY.")));
	if (IsA(parsetree, AlterTableStmt))
		CheckRegionColumnCommands(relid, (AlterTableStmt *) parsetree);
	if (IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN)
	{
		const LocalityTable *table = LocalityFindTable(relid);

		renames_region_column = table != NULL &&
			table->spec.kind == LOCALITY_REGIONAL_BY_ROW &&
			strcmp(table->spec.column, ((RenameStmt *) parsetree)->subname) == 0;
	}

	RunUtility(call);
	CommandCounterIncrement();

	if (renames_region_column)
		FollowRegionColumnRename(relid, (RenameStmt *) parsetree);
	if (IsA(parsetree, AlterTableStmt) && LocalityIsManagedTable(relid))
		(void) LocalityAlignTableSequences(relid, 0);
	LocalityPropagateStatement(StatementText(call));
}

/* --- DROP ---------------------------------------------------------------- */

/*
 * ForgetDroppedTables removes the catalog rows of the managed tables the
 * statement dropped and, when send is true, sends DROP TABLE for each to
 * every other region.
 */
static void
ForgetDroppedTables(bool send)
{
	List	   *dropped = DroppedTables;
	ListCell   *lc;

	DroppedTables = NIL;
	SPI_connect();
	foreach(lc, dropped)
	{
		DroppedTable *table = lfirst(lc);
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];

		values[0] = ObjectIdGetDatum(table->relid);
		LocalityCatalogExecute("DELETE FROM locality.table_catalog "
							   "WHERE relid = $1::pg_catalog.regclass",
							   1, argtypes, values, NULL);
		LocalityCatalogExecute("DELETE FROM locality.sync_state "
							   "WHERE relid = $1::pg_catalog.regclass",
							   1, argtypes, values, NULL);
	}
	SPI_finish();
	LocalityInvalidateCatalogCache();
	if (send)
	{
		foreach(lc, dropped)
			LocalityPropagateStatement(psprintf("DROP TABLE %s",
												((DroppedTable *) lfirst(lc))->name));
	}
}

/*
 * DropTablesOrIndexes runs a DROP TABLE or DROP INDEX.  When every object
 * it names belongs to a managed table, the statement is sent as it is;
 * when only some do, a DROP of each of those.  Returns false (not run) when
 * it names no managed table.
 */
static bool
DropTablesOrIndexes(const UtilityCall *call)
{
	DropStmt   *stmt = (DropStmt *) call->pstmt->utilityStmt;
	List	   *sends = NIL;
	int			named = 0;
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
		Oid			relid = LookupRelation(rv);
		Oid			table = stmt->removeType == OBJECT_INDEX ? TableOfIndex(relid) : relid;

		named++;
		if (!OidIsValid(Managed(table)))
			continue;
		if (stmt->concurrent)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DROP %s CONCURRENTLY is not supported on table \"%s\", "
							"which has a locality",
							stmt->removeType == OBJECT_INDEX ? "INDEX" : "TABLE",
							get_rel_name(table)),
					 errhint("Leave out CONCURRENTLY.")));
		sends = lappend(sends, psprintf("DROP %s %s%s",
										stmt->removeType == OBJECT_INDEX ? "INDEX" : "TABLE",
										LocalityQualifiedTableName(relid),
										stmt->behavior == DROP_CASCADE ? " CASCADE" : ""));
	}
	if (sends == NIL)
		return false;

	RunUtility(call);
	if (DroppedTables != NIL)
		ForgetDroppedTables(false);
	if (list_length(sends) == named)
		LocalityPropagateStatement(StatementText(call));
	else
	{
		foreach(lc, sends)
			LocalityPropagateStatement((char *) lfirst(lc));
	}
	return true;
}

/*
 * DropsExtension is true for DROP EXTENSION pg_locality and DROP SCHEMA
 * locality, during which the hooks stand aside.
 */
static bool
DropsExtension(const DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION && stmt->removeType != OBJECT_SCHEMA)
		return false;
	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));

		if (stmt->removeType == OBJECT_EXTENSION ? strcmp(name, "pg_locality") == 0 :
			strcmp(name, "locality") == 0)
			return true;
	}
	return false;
}

/* Runs call with the hooks standing aside (dropping pg_locality itself). */
static void
RunDroppingExtension(const UtilityCall *call)
{
	ExtensionDropping = true;
	PG_TRY();
	{
		RunUtility(call);
	}
	PG_FINALLY();
	{
		ExtensionDropping = false;
	}
	PG_END_TRY();
	DroppedTables = NIL;
}

/*
 * OnlyTriggerSwitches: an ALTER TABLE that only disables or enables
 * triggers, as pg_restore --disable-triggers wraps each table's data in: the
 * restored table gets its triggers after its data, not here.
 */
static bool
OnlyTriggerSwitches(Node *parsetree)
{
	ListCell   *lc;

	if (!IsA(parsetree, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
	{
		switch (((AlterTableCmd *) lfirst(lc))->subtype)
		{
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrig:
			case AT_EnableTrigAll:
			case AT_DisableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrigUser:
				break;
			default:
				return false;
		}
	}
	return true;
}

/* --- The hooks ----------------------------------------------------------- */

/*
 * LocalityProcessUtility is the ProcessUtility hook (see the file header).
 */
static void
LocalityProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					   ProcessUtilityContext context, ParamListInfo params,
					   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	UtilityCall call = {pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc};
	Oid			relid;

	/*
	 * Our own DDL, and the parts PostgreSQL runs of a statement that was
	 * handled (and will be sent) as a whole, pass untouched.
	 */
	if (InternalDdlDepth > 0 || context == PROCESS_UTILITY_SUBCOMMAND)
	{
		if (IsA(parsetree, CreateStmt) && InternalDdlDepth == 0 &&
			HasLocalityOption(((CreateStmt *) parsetree)->options))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a table created inside another statement cannot have a locality"),
					 errhint("Create the table with its own CREATE TABLE statement.")));
		RunUtility(&call);
		return;
	}

	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
			if (HasLocalityOption(((CreateStmt *) parsetree)->options))
			{
				CreateTableWithLocality(&call);
				return;
			}
			break;
		case T_AlterTableStmt:
			if (((AlterTableStmt *) parsetree)->objtype == OBJECT_TABLE &&
				AlterHasLocalityOption((AlterTableStmt *) parsetree))
			{
				AlterTableSetLocality(&call);
				return;
			}
			/* FALLTHROUGH */
		case T_IndexStmt:
		case T_RenameStmt:
		case T_AlterObjectSchemaStmt:
			relid = ManagedTableOf(parsetree);
			if (OidIsValid(relid) && LocalityTableAwaitsRestore(relid))
			{
				/*
				 * A restore's post-data step (PRIMARY KEY, indexes): the other
				 * regions have it; the table's data is in, so its triggers go on.
				 */
				RunUtility(&call);
				CommandCounterIncrement();
				if (!OnlyTriggerSwitches(parsetree))
					LocalityFinishTableRestore(relid);
				return;
			}
			if (OidIsValid(relid))
			{
				ManagedTableDdl(&call, relid);
				return;
			}
			break;
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				LocalityCheckGuardDrop((Node *) stmt);
				if (DropsExtension(stmt))
				{
					LocalityCheckExtensionDrop();
					RunDroppingExtension(&call);
					return;
				}
				if ((stmt->removeType == OBJECT_TABLE || stmt->removeType == OBJECT_INDEX) &&
					DropTablesOrIndexes(&call))
					return;
			}
			break;
		default:
			break;
	}

	RunUtility(&call);

	/* DROP SCHEMA ... CASCADE, DROP OWNED and the like. */
	if (DroppedTables != NIL)
		ForgetDroppedTables(true);
}

/*
 * RefuseRegionColumnDrop raises 2BP01 when column attnum of managed table
 * relid is the region column of a REGIONAL BY ROW table.
 */
static void
RefuseRegionColumnDrop(Oid relid, int attnum)
{
	const LocalityTable *table = LocalityFindTable(relid);

	if (table == NULL || table->spec.kind != LOCALITY_REGIONAL_BY_ROW ||
		get_attnum(relid, table->spec.column) != attnum)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("cannot drop column \"%s\" of table \"%s\"", table->spec.column,
					get_rel_name(relid)),
			 errdetail("It is the region column of a REGIONAL BY ROW table."),
			 errhint("Change the table's locality with locality.set_locality() first; "
					 "the column may be renamed.")));
}

/*
 * LocalityObjectAccess is the object-access hook: on the drop of a managed
 * table it remembers the table (its catalog row goes once the statement is
 * done); the region column of a REGIONAL BY ROW table cannot be dropped.
 */
static void
LocalityObjectAccess(ObjectAccessType access, Oid classId, Oid objectId, int subId,
					 void *arg)
{
	if (PrevObjectAccess)
		PrevObjectAccess(access, classId, objectId, subId, arg);

	if (access != OAT_DROP || classId != RelationRelationId ||
		InternalDdlDepth > 0 || ExtensionDropping)
		return;
	if (!LocalityIsManagedTable(objectId))
		return;

	if (subId != 0)
		RefuseRegionColumnDrop(objectId, subId);
	else
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		DroppedTable *table = palloc(sizeof(DroppedTable));

		table->relid = objectId;
		table->name = LocalityQualifiedTableName(objectId);
		DroppedTables = lappend(DroppedTables, table);
		MemoryContextSwitchTo(old);
	}
}

/* Forgets remembered drops when their (sub)transaction ends. */
static void
DdlXactCallback(XactEvent event, void *arg)
{
	DroppedTables = NIL;
}

static void
DdlSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		DroppedTables = NIL;
}

/* --- locality.execute() -------------------------------------------------- */

/*
 * CheckCurrentDatabase raises unless name is the current database: 3D000
 * when there is no such database, 0A000 when it is another one.
 */
static void
CheckCurrentDatabase(const char *name)
{
	const char *current = get_database_name(MyDatabaseId);

	if (strcmp(name, current) == 0)
		return;
	if (!OidIsValid(get_database_oid(name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" does not exist", name)));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot change the regions of database \"%s\" from database \"%s\"",
					name, current),
			 errhint("Connect to database \"%s\" and run the statement there.", name)));
}

/* Runs a region-management function with text arguments through SPI. */
static void
CallRegionFunction(const char *sql, int nargs, const char *arg1, const char *arg2)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(arg1);
	values[1] = arg2 ? CStringGetTextDatum(arg2) : (Datum) 0;
	SPI_connect();
	if (SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pg_locality: could not run %s", sql);
	SPI_finish();
}

/* ALTER TABLE ... SET LOCALITY of locality.execute(). */
static void
ExecuteSetLocality(const LocalityDdlStatement *stmt)
{
	RangeVar   *rv;
	Oid			relid;
	char	   *definition;
	int64		floor;

	if (stmt->database_name[0] != '\0' &&
		strcmp(stmt->database_name, get_database_name(MyDatabaseId)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cross-database references are not implemented: %s.%s.%s",
						stmt->database_name, stmt->schema_name, stmt->table_name)));
	rv = makeRangeVar(stmt->schema_name[0] ? pstrdup(stmt->schema_name) : NULL,
					  pstrdup(stmt->table_name), -1);
	relid = RangeVarGetRelid(rv, AccessExclusiveLock, stmt->missing_ok);
	if (!OidIsValid(relid))
	{
		ereport(NOTICE,
				(errmsg("relation \"%s\" does not exist, skipping", stmt->table_name)));
		return;
	}
	definition = LocalityTableDefinitionIfMissing(relid);
	floor = LocalityChangeTableLocality(relid, &stmt->locality);
	LocalityPropagateLocalityChange(relid, &stmt->locality, floor, NULL, definition);
}

PG_FUNCTION_INFO_V1(locality_execute);

/*
 * locality_execute is locality.execute(statement text): one CockroachDB
 * multi-region statement.  Region changes call locality.add_region,
 * drop_region and set_primary_region (which propagate themselves); IF
 * [NOT] EXISTS is decided here, from the catalog.
 */
Datum
locality_execute(PG_FUNCTION_ARGS)
{
	char	   *sql;
	LocalityDdlStatement *stmt = palloc0(sizeof(LocalityDdlStatement));
	LocalityStatus status;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("statement must not be null")));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	LocalityInitStatus(&status);
	locality_ddl_parse(sql, stmt, &status);
	LocalityRaiseStatus(&status, sql);

	switch (stmt->kind)
	{
		case LOCALITY_DDL_SET_LOCALITY:
			ExecuteSetLocality(stmt);
			break;
		case LOCALITY_DDL_SET_PRIMARY_REGION:
			CheckCurrentDatabase(stmt->database_name);
			CallRegionFunction("SELECT locality.set_primary_region($1)", 1, stmt->region, NULL);
			break;
		case LOCALITY_DDL_ADD_REGION:
			CheckCurrentDatabase(stmt->database_name);
			if (stmt->missing_ok && LocalityFindRegionByName(stmt->region) != NULL)
			{
				ereport(NOTICE,
						(errmsg("region \"%s\" already exists, skipping", stmt->region)));
				break;
			}
			CallRegionFunction("SELECT locality.add_region($1, $2)", 2, stmt->region,
							   stmt->conninfo);
			break;
		case LOCALITY_DDL_DROP_REGION:
			CheckCurrentDatabase(stmt->database_name);
			if (stmt->missing_ok && LocalityFindRegionByName(stmt->region) == NULL)
			{
				ereport(NOTICE,
						(errmsg("region \"%s\" does not exist, skipping", stmt->region)));
				break;
			}
			CallRegionFunction("SELECT locality.drop_region($1)", 1, stmt->region, NULL);
			break;
		default:
			elog(ERROR, "pg_locality: unexpected statement kind %d", stmt->kind);
	}
	PG_RETURN_VOID();
}

/*
 * LocalityInitDdl chains the ProcessUtility and object-access hooks.
 */
void
LocalityInitDdl(void)
{
	PrevProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = LocalityProcessUtility;
	PrevObjectAccess = object_access_hook;
	object_access_hook = LocalityObjectAccess;
	RegisterXactCallback(DdlXactCallback, NULL);
	RegisterSubXactCallback(DdlSubXactCallback, NULL);
}
