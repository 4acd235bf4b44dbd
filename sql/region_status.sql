-- Regional isolation on one server (SPEC.md sections 1, 6 and 7): the
-- settings, locality.region_status, the circuit breaker of a region whose
-- server never answers (nothing listens on port 1), and
-- locality.enforce_home_region.  With real servers on both ends:
-- test/t/060_circuit_breaker.pl.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

-- The settings of SPEC.md section 1; the breaker's are server-wide.
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('locality.breaker_failure_threshold', 'locality.breaker_reset_timeout',
                'locality.enforce_home_region')
 ORDER BY name;
SET locality.breaker_failure_threshold = 5;
\echo SQLSTATE :SQLSTATE

-- Before any region, the view is empty; then every region has a row, this
-- server's own without a breaker.
SELECT * FROM locality.region_status;
INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) VALUES
    (1, 'regress-test', 'dbname=x', true),
    (2, 'dead-east1', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=5', false);
SELECT * FROM locality.region_status;

-- Each call to the dead region tries it and fails with 08006 and libpq's
-- reason, until three consecutive failures open its breaker.
\set VERBOSITY terse
SELECT locality.set_primary_region('dead-east1');
SELECT locality.set_primary_region('dead-east1');
SELECT region, reachable, breaker, rtt_ms IS NULL AS no_rtt,
       last_error LIKE '%port 1 failed%' AS last_error_says_why,
       last_error_at > now() - interval '1 hour' AS last_error_at_is_recent
  FROM locality.region_status WHERE region = 'dead-east1';
SELECT locality.set_primary_region('dead-east1');
SELECT region, reachable, breaker FROM locality.region_status;
\set VERBOSITY default

-- Open: the next call fails at once, saying since when and why.
DO $$
DECLARE
    state text;
    message text;
    detail text;
    hint text;
BEGIN
    PERFORM locality.set_primary_region('dead-east1');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE '%: %', state, message;
    RAISE NOTICE 'detail: %', regexp_replace(
        regexp_replace(detail, 'since [0-9-]+ [0-9:.+-]+,', 'since <time>,'),
        'last error: connection to server at "127.0.0.1", port 1 failed: .*',
        'last error: connection to server at "127.0.0.1", port 1 failed: <reason>');
    RAISE NOTICE 'hint: %', regexp_replace(hint, 'at [0-9-]+ [0-9:.+-]+ ', 'at <time> ');
END
$$;
SELECT locality.gateway_region()::text = 'regress-test' AS primary_unchanged
  FROM locality.regions WHERE is_primary;

-- enforce_home_region: any cross-region call is 55000 naming the region,
-- checked before the breaker.
SET locality.enforce_home_region = on;
SELECT locality.set_primary_region('dead-east1');
RESET locality.enforce_home_region;

-- Local work goes on while a region's breaker is open.
CREATE TABLE local_notes (id int PRIMARY KEY);
INSERT INTO local_notes VALUES (1);
SELECT count(*) FROM local_notes;
DROP TABLE local_notes;

DELETE FROM locality.region_catalog;
