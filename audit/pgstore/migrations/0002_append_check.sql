-- Version 2: the chain check of an append runs in the database, after the
-- batch's INSERT and before its COMMIT, so a batch is sent whole (insert,
-- check, commit) and the chain lock is held only from the check to the
-- commit: the next batch inserts while this one commits.
--
-- audit.append_check takes the instance's chain lock (held until the
-- transaction ends; the key is the one the writer took before version 2)
-- and raises SQLSTATE MG001 unless the records before first_seq end with
-- (first_seq - 1, prev_hash) - the zero hash standing for an empty chain -
-- and the records from first_seq on are exactly the n this transaction
-- inserted. It runs with the caller's privileges: the writer's SELECT on
-- audit.event is all it needs.
CREATE FUNCTION audit.append_check(inst text, first_seq bigint, prev_hash bytea, n bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s bigint;
  h bytea;
  c bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('mgmtd-audit:' || inst, 17));
  SELECT e.seq, e.hash INTO s, h FROM audit.event e
    WHERE e.instance = inst AND e.seq < first_seq ORDER BY e.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    s := 0;
    h := decode(repeat('00', 32), 'hex');
  END IF;
  IF s IS DISTINCT FROM first_seq - 1 OR h IS DISTINCT FROM prev_hash THEN
    RAISE EXCEPTION 'audit chain of instance % ends at % but the batch continues %', inst, s, first_seq - 1
      USING ERRCODE = 'MG001';
  END IF;
  SELECT count(*) INTO c FROM audit.event e WHERE e.instance = inst AND e.seq >= first_seq;
  IF c <> n THEN
    RAISE EXCEPTION 'audit chain of instance % already holds records from %', inst, first_seq
      USING ERRCODE = 'MG001';
  END IF;
END $$;

REVOKE ALL ON FUNCTION audit.append_check(text, bigint, bytea, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.append_check(text, bigint, bytea, bigint) TO {{writer}};
