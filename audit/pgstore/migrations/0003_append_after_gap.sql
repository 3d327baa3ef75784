-- Version 3: appending after a gap. When the database's chain of an
-- instance ends before what that instance acknowledged (its tail was
-- deleted, or the database was restored from an older backup), the writer
-- continues its own chain - it never reuses a sequence number - and the
-- records in between stay missing, for verify to report. Such a batch does
-- not continue the stored chain, so audit.append_check refuses it;
-- audit.append_check_gap accepts it only when the stored chain ends exactly
-- at (stored_seq, stored_hash), the head the writer read and found behind
-- its own (the zero hash and 0 standing for an empty chain), before
-- first_seq - 1. Like append_check it takes the chain lock and requires
-- the records from first_seq on to be exactly the n it inserted, so two
-- writers still cannot fork a chain.
CREATE FUNCTION audit.append_check_gap(inst text, first_seq bigint, prev_hash bytea, n bigint, stored_seq bigint, stored_hash bytea)
RETURNS void
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
  IF stored_seq >= first_seq - 1 OR s IS DISTINCT FROM stored_seq OR h IS DISTINCT FROM stored_hash THEN
    RAISE EXCEPTION 'audit chain of instance % ends at % but the batch continues % after a gap from %', inst, s, first_seq - 1, stored_seq
      USING ERRCODE = 'MG001';
  END IF;
  SELECT count(*) INTO c FROM audit.event e WHERE e.instance = inst AND e.seq >= first_seq;
  IF c <> n THEN
    RAISE EXCEPTION 'audit chain of instance % already holds records from %', inst, first_seq
      USING ERRCODE = 'MG001';
  END IF;
END $$;

REVOKE ALL ON FUNCTION audit.append_check_gap(text, bigint, bytea, bigint, bigint, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.append_check_gap(text, bigint, bytea, bigint, bigint, bytea) TO {{writer}};
