-- The statement check of 0008 joined the entries of a statement's postings with a join the planner
-- was free to turn into a scan of every entry: it now looks each one up by its key (a subplan per
-- entry), whatever the table's size.
CREATE OR REPLACE FUNCTION ledger_postings_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  checks record;
  bad record;
BEGIN
  SELECT
    (SELECT y.entry_id FROM (
        SELECT x.*, (SELECT e.kind FROM ledger_entries e WHERE e.id = x.entry_id) AS kind
          FROM (SELECT entry_id, sum(c) AS postings, bool_and(s = 0) AS balanced,
                       bool_and(all_pending) AS all_pending, bool_or(any_pending) AS any_pending
                  FROM (SELECT entry_id, count(*) AS c,
                               sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) AS s,
                               bool_and(pending) AS all_pending, bool_or(pending) AS any_pending
                          FROM new_postings GROUP BY entry_id, currency) per_currency
                 GROUP BY entry_id) x) y
      WHERE y.postings < 2 OR NOT y.balanced OR y.kind IS NULL
         OR y.kind IN ('void_pending', 'expire_pending', 'post_pending')
         OR y.all_pending <> (y.kind = 'pending') OR y.any_pending <> (y.kind = 'pending')
      LIMIT 1) AS suspect,
    (SELECT d.code FROM (
        SELECT (SELECT a.code FROM ledger_accounts a WHERE a.id = u.account_id AND a.status <> 'open') AS code
          FROM (SELECT DISTINCT account_id FROM new_postings) u) d
      WHERE d.code IS NOT NULL LIMIT 1) AS closed_account
  INTO checks;
  IF checks.closed_account IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL03', MESSAGE = format('ledger account %s is closed', checks.closed_account);
  END IF;
  IF checks.suspect IS NULL THEN
    RETURN NULL;
  END IF;
  -- Something is off (or a post of a pending entry needs its limits checked): name it precisely.
  FOR bad IN
    SELECT x.entry_id, e.kind, e.pending_entry_id, x.postings, x.balanced, x.all_pending, x.any_pending
      FROM (SELECT entry_id, sum(c) AS postings, bool_and(s = 0) AS balanced,
                   bool_and(all_pending) AS all_pending, bool_or(any_pending) AS any_pending
              FROM (SELECT entry_id, count(*) AS c, sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) AS s,
                           bool_and(pending) AS all_pending, bool_or(pending) AS any_pending
                      FROM new_postings GROUP BY entry_id, currency) per_currency
             GROUP BY entry_id) x
      CROSS JOIN LATERAL (SELECT kind, pending_entry_id FROM ledger_entries WHERE id = x.entry_id OFFSET 0) e
  LOOP
    IF bad.postings < 2 THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL02',
        MESSAGE = format('entry %s has %s posting(s) in this statement: it needs at least two, written together', bad.entry_id, bad.postings);
    END IF;
    IF NOT bad.balanced THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL01',
        MESSAGE = format('entry %s does not balance: debits must equal credits per currency', bad.entry_id);
    END IF;
    IF bad.kind IN ('void_pending', 'expire_pending') THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s (%s) releases a pending entry and has no postings of its own', bad.entry_id, bad.kind);
    END IF;
    IF bad.all_pending <> (bad.kind = 'pending') OR bad.any_pending <> (bad.kind = 'pending') THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s (%s) has postings of the wrong phase', bad.entry_id, bad.kind);
    END IF;
    IF bad.kind = 'post_pending' AND EXISTS (
        SELECT 1
          FROM (SELECT account_id, side, sum(amount) AS amount FROM new_postings
                 WHERE entry_id = bad.entry_id GROUP BY account_id, side) posted
          LEFT JOIN (SELECT account_id, side, sum(amount) AS amount FROM ledger_postings
                      WHERE entry_id = bad.pending_entry_id GROUP BY account_id, side) reserved
            USING (account_id, side)
         WHERE posted.amount > coalesce(reserved.amount, 0)) THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL09',
        MESSAGE = format('entry %s posts more than its pending entry reserved', bad.entry_id);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
