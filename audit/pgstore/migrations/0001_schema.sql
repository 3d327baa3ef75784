-- Append-only, hash-chained audit log, version 1.
-- Runs as {{owner}} (SET ROLE by the migrator), so every object is owned
-- by the NOLOGIN owner role. {{writer}} may INSERT and SELECT, {{reader}}
-- only SELECT. Triggers refuse UPDATE, DELETE and TRUNCATE even to the owner.

CREATE TABLE audit.event (
  instance     text COLLATE "C" NOT NULL,   -- the mgmtd instance whose chain this is
  seq          bigint      NOT NULL CHECK (seq > 0),  -- gap-free per instance
  ts           timestamptz NOT NULL,        -- decision time (µs), hashed
  db_ts        timestamptz NOT NULL DEFAULT clock_timestamp(), -- not hashed: skew cross-check
  actor        text        NOT NULL,
  auth_method  text        NOT NULL,
  roles        text[]      NOT NULL,
  channel      text        NOT NULL,
  source       text        NOT NULL,
  request_id   text        NOT NULL,
  action       text        NOT NULL,
  object_type  text        NOT NULL,
  object_id    text        NOT NULL,
  outcome      text        NOT NULL CHECK (outcome IN ('success','failure','denied','error')),
  reason       text        NOT NULL,
  before       json,                        -- json, not jsonb: the bytes hashed are the bytes kept
  after        json,
  prev_hash    bytea       NOT NULL CHECK (length(prev_hash) = 32),
  hash         bytea       NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (instance, seq, ts)
) PARTITION BY RANGE (ts);

CREATE INDEX event_ts_idx     ON audit.event (ts, instance, seq);
CREATE INDEX event_actor_idx  ON audit.event (actor, ts);
CREATE INDEX event_action_idx ON audit.event (action, ts);
CREATE INDEX event_object_idx ON audit.event (object_type, object_id, ts);

-- Signed checkpoints of a chain head; also written outside the database.
CREATE TABLE audit.anchor (
  instance   text COLLATE "C" NOT NULL,
  seq        bigint      NOT NULL,
  hash       bytea       NOT NULL CHECK (length(hash) = 32),
  signed_at  timestamptz NOT NULL,
  key_id     text        NOT NULL,
  public_key bytea       NOT NULL,
  signature  bytea       NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (instance, seq, key_id)
);

-- Where a chain continues after a retention purge: the last purged record.
CREATE TABLE audit.base (
  instance        text COLLATE "C" NOT NULL,
  seq             bigint      NOT NULL,
  hash            bytea       NOT NULL CHECK (length(hash) = 32),
  manifest_sha256 text        NOT NULL,
  purged_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (instance, seq)
);

CREATE FUNCTION audit.block_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit tables are append-only (% on %)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER event_no_update_delete BEFORE UPDATE OR DELETE ON audit.event
  FOR EACH ROW EXECUTE FUNCTION audit.block_change();
CREATE TRIGGER event_no_truncate BEFORE TRUNCATE ON audit.event
  FOR EACH STATEMENT EXECUTE FUNCTION audit.block_change();
CREATE TRIGGER anchor_no_update_delete BEFORE UPDATE OR DELETE ON audit.anchor
  FOR EACH ROW EXECUTE FUNCTION audit.block_change();
CREATE TRIGGER anchor_no_truncate BEFORE TRUNCATE ON audit.anchor
  FOR EACH STATEMENT EXECUTE FUNCTION audit.block_change();
CREATE TRIGGER base_no_update_delete BEFORE UPDATE OR DELETE ON audit.base
  FOR EACH ROW EXECUTE FUNCTION audit.block_change();
CREATE TRIGGER base_no_truncate BEFORE TRUNCATE ON audit.base
  FOR EACH STATEMENT EXECUTE FUNCTION audit.block_change();

-- Monthly partitions (UTC), created on demand by the writer through this
-- owner-privileged function; each gets its own TRUNCATE trigger, because
-- statement triggers are not inherited by partitions.
CREATE FUNCTION audit.ensure_partition(t timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  lo   timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi   timestamptz := (date_trunc('month', t AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'event_' || to_char(t AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('mgmtd-audit-partition'));
  IF to_regclass('audit.' || quote_ident(name)) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.event FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON audit.%I FOR EACH STATEMENT EXECUTE FUNCTION audit.block_change()',
                 name || '_no_truncate', name);
  EXECUTE format('REVOKE ALL ON audit.%I FROM PUBLIC', name);
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.ensure_partition(timestamptz) FROM PUBLIC;
GRANT USAGE ON SCHEMA audit TO {{writer}}, {{reader}};
GRANT INSERT, SELECT ON audit.event, audit.anchor TO {{writer}};
GRANT SELECT ON audit.base TO {{writer}};
GRANT EXECUTE ON FUNCTION audit.ensure_partition(timestamptz) TO {{writer}};
GRANT SELECT ON audit.event, audit.anchor, audit.base TO {{reader}};
