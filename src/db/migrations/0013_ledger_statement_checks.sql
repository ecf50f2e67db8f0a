-- A posting's entry (written in the same transaction) and its account (existing, open, of the
-- posting's currency) were checked by two foreign keys, one query per posting and per key. The
-- statement check of the postings now looks each entry and each account up once per statement, and
-- the foreign keys, the unique keys that only served them and the postings' copy of the
-- transaction id go.
ALTER TABLE "ledger_postings" DROP CONSTRAINT "ledger_postings_entry";
--> statement-breakpoint
ALTER TABLE "ledger_postings" DROP CONSTRAINT "ledger_postings_account_currency";
--> statement-breakpoint
ALTER TABLE "ledger_accounts" DROP CONSTRAINT "ledger_accounts_id_currency";
--> statement-breakpoint
ALTER TABLE "ledger_entries" DROP CONSTRAINT "ledger_entries_id_tx";
--> statement-breakpoint
ALTER TABLE "ledger_postings" DROP COLUMN "entry_tx";
--> statement-breakpoint
CREATE OR REPLACE FUNCTION ledger_postings_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  this_tx bigint := (pg_current_xact_id()::text)::bigint;
  account record;
  bad record;
BEGIN
  -- Each account once: it exists, is open and keeps the postings' currency (a look-up by key each).
  SELECT u.account_id, u.currency, a.code, a.status, a.currency AS account_currency
    INTO account
    FROM (SELECT DISTINCT account_id, currency FROM new_postings) u
    LEFT JOIN LATERAL (SELECT code, status, currency FROM ledger_accounts WHERE id = u.account_id OFFSET 0) a ON true
   WHERE a.code IS NULL OR a.status <> 'open' OR a.currency <> u.currency
   LIMIT 1;
  IF FOUND THEN
    IF account.code IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL11', MESSAGE = format('ledger account %s does not exist', account.account_id);
    END IF;
    IF account.status <> 'open' THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL03', MESSAGE = format('ledger account %s is closed', account.code);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'TPL10',
      MESSAGE = format('ledger account %s keeps %s: a posting in %s cannot go to it', account.code,
                       account.account_currency, account.currency);
  END IF;
  -- Each entry once: the loop runs only for an entry with something wrong (or a post of a pending
  -- entry, whose limits need its reservation), and names what is wrong.
  FOR bad IN
    SELECT x.entry_id, e.kind, e.created_tx, e.pending_entry_id, x.postings, x.balanced, x.all_pending, x.any_pending
      FROM (SELECT entry_id, sum(c) AS postings, bool_and(s = 0) AS balanced,
                   bool_and(all_pending) AS all_pending, bool_or(any_pending) AS any_pending
              FROM (SELECT entry_id, count(*) AS c, sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) AS s,
                           bool_and(pending) AS all_pending, bool_or(pending) AS any_pending
                      FROM new_postings GROUP BY entry_id, currency) per_currency
             GROUP BY entry_id) x
      LEFT JOIN LATERAL (SELECT kind, created_tx, pending_entry_id FROM ledger_entries WHERE id = x.entry_id OFFSET 0) e
        ON true
     WHERE x.postings < 2 OR NOT x.balanced OR e.kind IS NULL OR e.created_tx <> this_tx
        OR e.kind IN ('void_pending', 'expire_pending', 'post_pending')
        OR x.all_pending <> (e.kind = 'pending') OR x.any_pending <> (e.kind = 'pending')
  LOOP
    IF bad.kind IS NULL OR bad.created_tx <> this_tx THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL12',
        MESSAGE = format('postings for entry %s: an entry''s postings are written with it, in its own transaction', bad.entry_id);
    END IF;
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
