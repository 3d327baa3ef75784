-- Fleet hub, version 1. Runs as {{owner}} (SET ROLE by the migrator).
-- {{writer}} (every hub process) reads and writes; {{reader}} reads.

-- One row per cluster: who pushes it, when it last did, its newest
-- picture (the model's snapshot as the API shows it).
CREATE TABLE hub.cluster (
  name          text COLLATE "C" PRIMARY KEY,
  instance      text COLLATE "C" NOT NULL,  -- the sender's view
  url           text        NOT NULL DEFAULT '',  -- the cluster's own mgmtd
  last_contact  timestamptz NOT NULL,       -- the hub's clock at the newest push
  lost          bigint      NOT NULL DEFAULT 0,   -- events the sender dropped, as it says
  generation    bigint      NOT NULL DEFAULT 0,
  snapshot      jsonb,
  snapshot_time timestamptz
);

-- The current objects of every cluster, replaced with each picture, for
-- queries in SQL (the hub answers from its memory).
CREATE TABLE hub.object (
  cluster text COLLATE "C" NOT NULL REFERENCES hub.cluster (name) ON DELETE CASCADE,
  kind    text        NOT NULL,
  name    text COLLATE "C" NOT NULL,
  state   text        NOT NULL,
  nodes   text[]      NOT NULL DEFAULT '{}',
  PRIMARY KEY (cluster, kind, name)
);
CREATE INDEX object_name_idx ON hub.object (name);
CREATE INDEX object_nodes_idx ON hub.object USING gin (nodes);

-- Every event of every cluster, once: (cluster, instance, seq) is the
-- sender's key, id the fleet's order. Ingests take a transaction-scoped
-- advisory lock before inserting, so ids become visible in order and a
-- stream resuming after id N never misses one that commits later.
CREATE TABLE hub.event (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster     text COLLATE "C" NOT NULL,
  instance    text COLLATE "C" NOT NULL,
  seq         bigint      NOT NULL CHECK (seq > 0),
  published   timestamptz NOT NULL,
  seen        timestamptz NOT NULL,
  received    timestamptz NOT NULL,       -- the hub's clock at ingest
  type        text        NOT NULL,
  severity    text        NOT NULL,
  object_kind text        NOT NULL,
  object_name text COLLATE "C" NOT NULL,
  node        text COLLATE "C" NOT NULL,
  record      jsonb       NOT NULL,       -- the event as the API shows it
  UNIQUE (cluster, instance, seq)
);
CREATE INDEX event_cluster_idx ON hub.event (cluster, published);
CREATE INDEX event_published_idx ON hub.event (published);

REVOKE ALL ON ALL TABLES IN SCHEMA hub FROM PUBLIC;
GRANT USAGE ON SCHEMA hub TO {{writer}}, {{reader}};
GRANT SELECT, INSERT, UPDATE, DELETE ON hub.cluster, hub.object, hub.event TO {{writer}};
GRANT SELECT ON hub.cluster, hub.object, hub.event TO {{reader}};
