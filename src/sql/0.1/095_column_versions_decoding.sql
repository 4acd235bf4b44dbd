-- The output plugin reads the column_versions row of a decoded transaction
-- (decoder.c OnlyWrittenColumns) after later transactions may have replaced
-- it: as a user catalog table its dead versions are kept while a slot's
-- catalog_xmin still needs them, instead of being pruned, so a decoded
-- update always carries only the columns its transaction wrote.
ALTER TABLE locality.column_versions SET (user_catalog_table = true);
