-- Event history, version 1. Runs as {{owner}} (SET ROLE by the migrator).
-- {{writer}} (the daemon) may INSERT and SELECT and create and drop daily
-- partitions through the two owner-privileged functions; {{reader}} may
-- SELECT. Unlike the audit log, history is not tamper-evident: it is what
-- the cluster did, for operators, and retention drops whole days.

CREATE TABLE history.event (
  cluster     text COLLATE "C" NOT NULL,  -- the cluster the event is about
  instance    text COLLATE "C" NOT NULL,  -- the mgmtd that published it (its view)
  seq         bigint      NOT NULL CHECK (seq > 0),
  published   timestamptz NOT NULL,       -- when mgmtd published it (µs)
  seen        timestamptz NOT NULL,       -- when the source saw it
  generation  bigint      NOT NULL,
  type        text        NOT NULL,
  severity    text        NOT NULL,
  object_kind text        NOT NULL,
  object_name text COLLATE "C" NOT NULL,
  node        text COLLATE "C" NOT NULL,
  record      jsonb       NOT NULL,       -- the whole event as the API shows it
  PRIMARY KEY (instance, seq, published)
) PARTITION BY RANGE (published);

CREATE INDEX event_published_idx ON history.event (published, instance, seq);
CREATE INDEX event_object_idx    ON history.event (object_name, published, instance, seq);
CREATE INDEX event_node_idx      ON history.event (node, published, instance, seq) WHERE node <> '';

-- Daily partitions (UTC), created on demand.
CREATE FUNCTION history.ensure_partition(t timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lo   timestamptz := date_trunc('day', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi   timestamptz := (date_trunc('day', t AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC';
  name text := 'event_' || to_char(t AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('mgmtd-history-partition'));
  IF to_regclass('history.' || quote_ident(name)) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE history.%I PARTITION OF history.event FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  EXECUTE format('REVOKE ALL ON history.%I FROM PUBLIC', name);
END $$;

-- Retention: drops every daily partition that ends at or before t and
-- returns how many records they held.
CREATE FUNCTION history.purge(t timestamptz) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p record;
  n bigint := 0;
  c bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('mgmtd-history-partition'));
  FOR p IN
    SELECT c.relname
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE i.inhparent = 'history.event'::regclass AND s.nspname = 'history'
      AND c.relname ~ '^event_[0-9]{8}$'
      AND ((to_date(substr(c.relname, 7), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC') <= t
  LOOP
    EXECUTE format('SELECT count(*) FROM history.%I', p.relname) INTO c;
    n := n + c;
    EXECUTE format('DROP TABLE history.%I', p.relname);
  END LOOP;
  RETURN n;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA history FROM PUBLIC;
REVOKE ALL ON FUNCTION history.ensure_partition(timestamptz), history.purge(timestamptz) FROM PUBLIC;
GRANT USAGE ON SCHEMA history TO {{writer}}, {{reader}};
GRANT INSERT, SELECT ON history.event TO {{writer}};
GRANT EXECUTE ON FUNCTION history.ensure_partition(timestamptz), history.purge(timestamptz) TO {{writer}};
GRANT SELECT ON history.event TO {{reader}};
