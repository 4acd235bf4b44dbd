-- GLOBAL tables resolved row by row: an UPDATE that leaves a TOASTed value
-- unchanged stores it again, so the output plugin sends it in full instead
-- of as "unchanged" (src/shim/global_triggers.c, docs/conflicts.md section 3).
CREATE FUNCTION locality._global_update_toast() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_global_update_toast';
