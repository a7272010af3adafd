-- FerretDB 1.x (PostgreSQL backend) finds a document by _id with `_jsonb->'_id' @> $1`. Its own _id
-- index is a btree, which `@>` cannot use, and so every lookup scans the whole collection. A version-gated
-- update by _id (reaction-streaming) got slower as the collection grew: 350 writes/s at 1,000
-- documents, 83 at 10,000.
--
-- This gives every table FerretDB creates a GIN index on `_jsonb->'_id'` that `@>` can use. An event
-- trigger covers new tables; the loop below covers the ones that already exist. The server also runs
-- with plan_cache_mode=force_custom_plan: FerretDB's prepared statements otherwise get a generic
-- plan that ignores the index on small tables.
--
-- Run by `headwater up` before FerretDB starts. It is idempotent, and real MongoDB needs none of it.
CREATE OR REPLACE FUNCTION headwater_index_id(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = '_jsonb' AND NOT attisdropped)
     AND NOT EXISTS (SELECT 1 FROM pg_indexes i JOIN pg_class c ON c.relname = i.tablename
                     JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname
                     WHERE c.oid = tbl AND i.indexdef LIKE '%USING gin%_id%') THEN
    EXECUTE format('CREATE INDEX ON %s USING gin ((_jsonb->''_id'') jsonb_path_ops) WITH (fastupdate = off)', tbl);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION headwater_index_id_on_create() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands()
           WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
    PERFORM headwater_index_id(r.objid::regclass);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS headwater_index_id;
CREATE EVENT TRIGGER headwater_index_id ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION headwater_index_id_on_create();

DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') LOOP
    PERFORM headwater_index_id(r.oid::regclass);
  END LOOP;
END $$;
