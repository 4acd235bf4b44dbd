
-- ---------------------------------------------------------------------------
-- The locality.region type (src/shim/region_type.c): a region name, stored
-- as the region's id in region_catalog (2 bytes).  Text and binary forms are
-- the name; unknown names are 42704, malformed ones 22023.  Values compare
-- and sort by id, that is in the order the regions were added (the order of
-- locality.regions), not by name.  A value whose region was dropped prints
-- as <dropped region N>.  Not an enum: regions come and go.
-- ---------------------------------------------------------------------------

CREATE TYPE locality.region;

CREATE FUNCTION locality.region_in(cstring) RETURNS locality.region
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_region_in';
CREATE FUNCTION locality.region_out(locality.region) RETURNS cstring
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_region_out';
CREATE FUNCTION locality.region_recv(internal) RETURNS locality.region
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_region_recv';
CREATE FUNCTION locality.region_send(locality.region) RETURNS bytea
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_region_send';

CREATE TYPE locality.region (
    INPUT = locality.region_in,
    OUTPUT = locality.region_out,
    RECEIVE = locality.region_recv,
    SEND = locality.region_send,
    INTERNALLENGTH = 2,
    PASSEDBYVALUE,
    ALIGNMENT = int2,
    STORAGE = plain
);
COMMENT ON TYPE locality.region IS
    'a region of locality.regions; sorts in the order regions were added';

-- Same representation as smallint: int2's own functions.
CREATE FUNCTION locality.region_eq(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2eq';
CREATE FUNCTION locality.region_ne(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2ne';
CREATE FUNCTION locality.region_lt(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2lt';
CREATE FUNCTION locality.region_le(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2le';
CREATE FUNCTION locality.region_gt(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2gt';
CREATE FUNCTION locality.region_ge(locality.region, locality.region) RETURNS boolean
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'int2ge';
CREATE FUNCTION locality.region_cmp(locality.region, locality.region) RETURNS integer
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'btint2cmp';
CREATE FUNCTION locality.region_sortsupport(internal) RETURNS void
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'btint2sortsupport';
CREATE FUNCTION locality.region_hash(locality.region) RETURNS integer
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'hashint2';
CREATE FUNCTION locality.region_hash_extended(locality.region, bigint) RETURNS bigint
    LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'hashint2extended';

-- The operators live in pg_catalog, like those of built-in types, so that
-- WHERE region = 'eu-west1' works whatever the search_path (operators are
-- found through it, and schema locality is rarely on it).
CREATE OPERATOR pg_catalog.= (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_eq,
    COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR pg_catalog.<> (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_ne,
    COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR pg_catalog.< (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_lt,
    COMMUTATOR = OPERATOR(pg_catalog.>), NEGATOR = OPERATOR(pg_catalog.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR pg_catalog.<= (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_le,
    COMMUTATOR = OPERATOR(pg_catalog.>=), NEGATOR = OPERATOR(pg_catalog.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR pg_catalog.> (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_gt,
    COMMUTATOR = OPERATOR(pg_catalog.<), NEGATOR = OPERATOR(pg_catalog.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR pg_catalog.>= (
    LEFTARG = locality.region, RIGHTARG = locality.region,
    FUNCTION = locality.region_ge,
    COMMUTATOR = OPERATOR(pg_catalog.<=), NEGATOR = OPERATOR(pg_catalog.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS locality.region_ops
    DEFAULT FOR TYPE locality.region USING btree AS
        OPERATOR 1 pg_catalog.<,
        OPERATOR 2 pg_catalog.<=,
        OPERATOR 3 pg_catalog.=,
        OPERATOR 4 pg_catalog.>=,
        OPERATOR 5 pg_catalog.>,
        FUNCTION 1 locality.region_cmp(locality.region, locality.region),
        FUNCTION 2 locality.region_sortsupport(internal),
        FUNCTION 4 pg_catalog.btequalimage(oid);

CREATE OPERATOR CLASS locality.region_ops
    DEFAULT FOR TYPE locality.region USING hash AS
        OPERATOR 1 pg_catalog.=,
        FUNCTION 1 locality.region_hash(locality.region),
        FUNCTION 2 locality.region_hash_extended(locality.region, bigint);

-- Drivers that send strings as text or varchar (JDBC, Npgsql) can write a
-- region column; a region reads back as text.
CREATE CAST (text AS locality.region) WITH INOUT AS ASSIGNMENT;
CREATE CAST (varchar AS locality.region) WITH INOUT AS ASSIGNMENT;
CREATE CAST (locality.region AS text) WITH INOUT AS ASSIGNMENT;

-- The region value of an id, unchecked (for views over region_catalog).
CREATE FUNCTION locality._region_from_id(smallint) RETURNS locality.region
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_region_from_id';

-- This server's region (locality.region), once it has been added: the
-- default of REGIONAL BY ROW region columns.
CREATE FUNCTION locality.gateway_region() RETURNS locality.region
    LANGUAGE C STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'locality_gateway_region';
