
-- ---------------------------------------------------------------------------
-- CRDT column types (src/shim/crdt_types.c, SPEC.md section 5):
-- locality.gcounter (grow-only counter), locality.pncounter (counter) and
-- locality.orset (observed-remove set of text).  A value is the core's
-- compact binary encoding in a varlena (also the binary send/recv form).
-- The text form round-trips the whole state; as input, a plain integer
-- (counters) or a text array literal '{a,b}' (orset) is an initial value
-- credited to the local region, so DEFAULT '0' works.  Increments and adds
-- are credited to the local region's slot; on apply, CRDT columns are
-- merged with the local state, never overwritten.
-- Input and the crediting operators read the catalog (region names, the
-- local region), hence STABLE; reading a value is IMMUTABLE.
-- ---------------------------------------------------------------------------

CREATE TYPE locality.gcounter;
CREATE FUNCTION locality.gcounter_in(cstring) RETURNS locality.gcounter
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_in';
CREATE FUNCTION locality.gcounter_out(locality.gcounter) RETURNS cstring
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_out';
CREATE FUNCTION locality.gcounter_recv(internal) RETURNS locality.gcounter
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_recv';
CREATE FUNCTION locality.gcounter_send(locality.gcounter) RETURNS bytea
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_send';
CREATE TYPE locality.gcounter (
    INPUT = locality.gcounter_in,
    OUTPUT = locality.gcounter_out,
    RECEIVE = locality.gcounter_recv,
    SEND = locality.gcounter_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

-- The join of two states (what apply does with a CRDT column).
CREATE FUNCTION locality.merge(locality.gcounter, locality.gcounter) RETURNS locality.gcounter
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_merge';

-- The encoding is canonical: equal states have equal bytes.
CREATE FUNCTION locality.gcounter_eq(locality.gcounter, locality.gcounter) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteaeq';
CREATE OPERATOR pg_catalog.= (
    LEFTARG = locality.gcounter, RIGHTARG = locality.gcounter,
    FUNCTION = locality.gcounter_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=),
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE TYPE locality.pncounter;
CREATE FUNCTION locality.pncounter_in(cstring) RETURNS locality.pncounter
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_in';
CREATE FUNCTION locality.pncounter_out(locality.pncounter) RETURNS cstring
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_out';
CREATE FUNCTION locality.pncounter_recv(internal) RETURNS locality.pncounter
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_recv';
CREATE FUNCTION locality.pncounter_send(locality.pncounter) RETURNS bytea
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_send';
CREATE TYPE locality.pncounter (
    INPUT = locality.pncounter_in,
    OUTPUT = locality.pncounter_out,
    RECEIVE = locality.pncounter_recv,
    SEND = locality.pncounter_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

-- The join of two states (what apply does with a CRDT column).
CREATE FUNCTION locality.merge(locality.pncounter, locality.pncounter) RETURNS locality.pncounter
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_merge';

-- The encoding is canonical: equal states have equal bytes.
CREATE FUNCTION locality.pncounter_eq(locality.pncounter, locality.pncounter) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteaeq';
CREATE OPERATOR pg_catalog.= (
    LEFTARG = locality.pncounter, RIGHTARG = locality.pncounter,
    FUNCTION = locality.pncounter_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=),
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE TYPE locality.orset;
CREATE FUNCTION locality.orset_in(cstring) RETURNS locality.orset
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_in';
CREATE FUNCTION locality.orset_out(locality.orset) RETURNS cstring
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_out';
CREATE FUNCTION locality.orset_recv(internal) RETURNS locality.orset
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_recv';
CREATE FUNCTION locality.orset_send(locality.orset) RETURNS bytea
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_send';
CREATE TYPE locality.orset (
    INPUT = locality.orset_in,
    OUTPUT = locality.orset_out,
    RECEIVE = locality.orset_recv,
    SEND = locality.orset_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

-- The join of two states (what apply does with a CRDT column).
CREATE FUNCTION locality.merge(locality.orset, locality.orset) RETURNS locality.orset
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_merge';

-- The encoding is canonical: equal states have equal bytes.
CREATE FUNCTION locality.orset_eq(locality.orset, locality.orset) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'byteaeq';
CREATE OPERATOR pg_catalog.= (
    LEFTARG = locality.orset, RIGHTARG = locality.orset,
    FUNCTION = locality.orset_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=),
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE FUNCTION locality.value(locality.gcounter) RETURNS bigint
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_value';
CREATE CAST (locality.gcounter AS bigint) WITH FUNCTION locality.value(locality.gcounter);
CREATE FUNCTION locality.gcounter_add(locality.gcounter, bigint) RETURNS locality.gcounter
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gcounter_add';
-- In pg_catalog like the region operators: found whatever the search_path.
CREATE OPERATOR pg_catalog.+ (
    LEFTARG = locality.gcounter, RIGHTARG = bigint,
    FUNCTION = locality.gcounter_add
);

CREATE FUNCTION locality.value(locality.pncounter) RETURNS bigint
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_value';
CREATE CAST (locality.pncounter AS bigint) WITH FUNCTION locality.value(locality.pncounter);
CREATE FUNCTION locality.pncounter_add(locality.pncounter, bigint) RETURNS locality.pncounter
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_add';
-- In pg_catalog like the region operators: found whatever the search_path.
CREATE OPERATOR pg_catalog.+ (
    LEFTARG = locality.pncounter, RIGHTARG = bigint,
    FUNCTION = locality.pncounter_add
);

CREATE FUNCTION locality.pncounter_subtract(locality.pncounter, bigint) RETURNS locality.pncounter
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_pncounter_minus';
CREATE OPERATOR pg_catalog.- (
    LEFTARG = locality.pncounter, RIGHTARG = bigint,
    FUNCTION = locality.pncounter_subtract
);

CREATE FUNCTION locality.add(locality.orset, text) RETURNS locality.orset
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_add_element';
CREATE FUNCTION locality.remove(locality.orset, text) RETURNS locality.orset
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_remove_element';
CREATE FUNCTION locality.elements(locality.orset) RETURNS text[]
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_element_array';
CREATE FUNCTION locality.orset_contains(locality.orset, text) RETURNS boolean
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_orset_has_element';
CREATE OPERATOR pg_catalog.@> (
    LEFTARG = locality.orset, RIGHTARG = text,
    FUNCTION = locality.orset_contains
);
