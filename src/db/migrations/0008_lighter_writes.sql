ALTER TABLE "card_payments" DROP CONSTRAINT "card_payments_request";--> statement-breakpoint
DROP INDEX "host_messages_terminal_time";--> statement-breakpoint
DROP INDEX "card_payments_batch";--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD COLUMN "first_posting_line" smallint GENERATED ALWAYS AS (CASE WHEN kind IN ('void_pending', 'expire_pending') THEN NULL ELSE 1 END) STORED;--> statement-breakpoint
CREATE INDEX "host_messages_time" ON "host_messages" USING brin ("at");--> statement-breakpoint
ALTER TABLE "card_payments" ADD CONSTRAINT "card_payments_request" UNIQUE("terminal_id","batch_no","trace","request_mti","merchant_id");--> statement-breakpoint
-- The ledger's checks move from one trigger call per entry at commit to one query per statement of
-- postings, and a deferred foreign key (checked in C, at commit) from each entry that must have
-- postings to its first posting.
DROP TRIGGER ledger_entries_check ON ledger_entries;
--> statement-breakpoint
DROP FUNCTION ledger_entry_check();
--> statement-breakpoint
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_have_postings
  FOREIGN KEY (id, first_posting_line) REFERENCES ledger_postings (entry_id, line)
  DEFERRABLE INITIALLY DEFERRED;
--> statement-breakpoint
CREATE FUNCTION ledger_postings_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  checks record;
  bad record;
BEGIN
  -- One query finds whether anything is wrong with the entries these postings belong to.
  SELECT
    (SELECT x.entry_id FROM (
        SELECT entry_id, sum(c) AS postings, bool_and(s = 0) AS balanced,
               bool_and(all_pending) AS all_pending, bool_or(any_pending) AS any_pending
          FROM (SELECT entry_id, count(*) AS c, sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) AS s,
                       bool_and(pending) AS all_pending, bool_or(pending) AS any_pending
                  FROM new_postings GROUP BY entry_id, currency) per_currency
         GROUP BY entry_id) x
       CROSS JOIN LATERAL (SELECT kind FROM ledger_entries WHERE id = x.entry_id) e
      WHERE x.postings < 2 OR NOT x.balanced OR e.kind IN ('void_pending', 'expire_pending', 'post_pending')
         OR x.all_pending <> (e.kind = 'pending') OR x.any_pending <> (e.kind = 'pending')
      LIMIT 1) AS suspect,
    (SELECT a.code FROM (SELECT DISTINCT account_id FROM new_postings) d
       CROSS JOIN LATERAL (SELECT code, status FROM ledger_accounts WHERE id = d.account_id) a
      WHERE a.status <> 'open' LIMIT 1) AS closed_account
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
      JOIN ledger_entries e ON e.id = x.entry_id
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
--> statement-breakpoint
CREATE TRIGGER ledger_postings_check AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_check();
