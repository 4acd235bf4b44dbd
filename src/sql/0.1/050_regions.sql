
-- ---------------------------------------------------------------------------
-- Region management (SPEC.md section 2; src/shim/regions.c).
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality.add_region(name text, conninfo text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_add_region';
CREATE FUNCTION locality.drop_region(name text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_drop_region';
CREATE FUNCTION locality.set_primary_region(name text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_set_primary_region';

-- Resolves prepared transactions this server coordinated and left in doubt.
CREATE FUNCTION locality.recover_prepared_transactions() RETURNS integer
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_recover_prepared_transactions';

-- Internal: called by other regions, inside their distributed transaction.
CREATE FUNCTION locality._catalog_add_region(id smallint, name text, conninfo text,
                                             is_primary boolean) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_catalog_add_region';
CREATE FUNCTION locality._catalog_drop_region(id smallint) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_catalog_drop_region';
CREATE FUNCTION locality._catalog_set_primary(id smallint) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_catalog_set_primary';
CREATE FUNCTION locality._catalog_set_secret(secret text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_catalog_set_secret';
REVOKE ALL ON FUNCTION locality._catalog_set_secret(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION locality._catalog_set_secret(text) TO locality_admin;
CREATE FUNCTION locality._catalog_put_table(tbl regclass, kind text, home_region smallint,
                                            region_column name, column_added boolean,
                                            conflict_resolution text) RETURNS void
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_catalog_put_table';

REVOKE ALL ON FUNCTION locality.add_region(text, text), locality.drop_region(text),
    locality.set_primary_region(text), locality.recover_prepared_transactions(),
    locality._catalog_add_region(smallint, text, text, boolean),
    locality._catalog_drop_region(smallint), locality._catalog_set_primary(smallint),
    locality._catalog_put_table(regclass, text, smallint, name, boolean, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION locality.add_region(text, text), locality.drop_region(text),
    locality.set_primary_region(text), locality.recover_prepared_transactions(),
    locality._catalog_add_region(smallint, text, text, boolean),
    locality._catalog_drop_region(smallint), locality._catalog_set_primary(smallint),
    locality._catalog_put_table(regclass, text, smallint, name, boolean, text)
    TO locality_admin;

-- The statements that recreate a managed table on a region joining the
-- cluster: schema, owned sequences, columns, constraints, indexes, and its
-- catalog row.  Names come out schema-qualified (search_path is pg_catalog).
CREATE FUNCTION locality._table_copy_statements(tbl regclass) RETURNS SETOF text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r       record;
    cols    text[] := '{}';
    col     text;
    entry   record;
BEGIN
    SELECT n.nspname INTO r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl;
    RETURN NEXT format('CREATE SCHEMA IF NOT EXISTS %I', r.nspname);

    -- Sequences owned by serial columns (identity sequences come with the column).
    FOR r IN
        SELECT s.seqrelid::regclass AS seq, format_type(s.seqtypid, NULL) AS typ, s.*
          FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjid = tbl AND d.deptype = 'a'
    LOOP
        RETURN NEXT format('CREATE SEQUENCE %s AS %s INCREMENT %s MINVALUE %s MAXVALUE %s START %s CACHE %s%s',
                           r.seq, r.typ, r.seqincrement, r.seqmin, r.seqmax, r.seqstart,
                           r.seqcache, CASE WHEN r.seqcycle THEN ' CYCLE' ELSE '' END);
    END LOOP;

    FOR r IN
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, a.attnotnull,
               a.attgenerated, a.attidentity, pg_get_expr(ad.adbin, ad.adrelid) AS def,
               CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
                    THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
                            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                           WHERE co.oid = a.attcollation) END AS coll
          FROM pg_attribute a
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum
    LOOP
        col := format('%I %s%s', r.attname, r.typ, coalesce(r.coll, ''));
        IF r.attgenerated = 's' THEN
            col := col || format(' GENERATED ALWAYS AS (%s) STORED', r.def);
        ELSIF r.def IS NOT NULL THEN
            col := col || ' DEFAULT ' || r.def;
        END IF;
        IF r.attidentity IN ('a', 'd') THEN
            col := col || CASE r.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                             ELSE ' GENERATED BY DEFAULT AS IDENTITY' END;
        END IF;
        IF r.attnotnull THEN
            col := col || ' NOT NULL';
        END IF;
        cols := cols || col;
    END LOOP;
    RETURN NEXT format('CREATE TABLE %s (%s)', tbl, array_to_string(cols, ', '));

    FOR r IN
        SELECT d.objid::regclass AS seq, a.attname
          FROM pg_depend d
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.refobjid = tbl AND d.deptype = 'a'
    LOOP
        RETURN NEXT format('ALTER SEQUENCE %s OWNED BY %s.%I', r.seq, tbl, r.attname);
    END LOOP;

    FOR r IN
        SELECT conname, pg_get_constraintdef(oid) AS def
          FROM pg_constraint
         WHERE conrelid = tbl AND contype IN ('p', 'u', 'c', 'x', 'f')
         ORDER BY contype = 'f', conname
    LOOP
        RETURN NEXT format('ALTER TABLE %s ADD CONSTRAINT %I %s', tbl, r.conname, r.def);
    END LOOP;

    FOR r IN
        SELECT pg_get_indexdef(i.indexrelid) AS def
          FROM pg_index i
         WHERE i.indrelid = tbl
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                                                           AND c.conrelid = tbl)
         ORDER BY i.indexrelid
    LOOP
        RETURN NEXT r.def;
    END LOOP;

    SELECT * INTO entry FROM locality.table_catalog WHERE relid = tbl;
    IF FOUND THEN
        RETURN NEXT format('SELECT locality._catalog_put_table(%L, %L, %s::smallint, %L, %L, %L)',
                           tbl::text, entry.kind, coalesce(entry.home_region::text, 'NULL'),
                           entry.region_column, entry.column_added, entry.conflict_resolution);
        -- The new region's sequences take its own residue class, above what
        -- this region has handed out.
        RETURN NEXT format('SELECT locality._align_sequences(%L, %s)', tbl::text,
            coalesce((SELECT max(pg_sequence_last_value(d.objid::regclass))
                        FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                       WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                         AND d.refobjid = tbl AND d.deptype IN ('a', 'i')), 0));
    END IF;
END
$$;

-- How the apply worker resolves conflicts on a table (SPEC.md section 5).
CREATE FUNCTION locality.set_conflict_resolution(tbl regclass, mode text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_set_conflict_resolution';
