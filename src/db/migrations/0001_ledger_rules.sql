-- Ledger rules enforced by the database, whatever the code does:
--   * an entry's postings are written together, in one statement, and there are at least two;
--   * they balance per currency (the posting's currency is its account's: a foreign key);
--   * no posting to a closed account; a pending entry's postings count as pending, others as posted;
--   * a posted part of a pending entry never exceeds what was pending, per account and side;
--   * balances are maintained here from the postings, rows locked in account order; the CHECK on
--     ledger_balances keeps accounts that may not go negative from doing so;
--   * entries and postings are immutable: a correction is a new reversing entry.
-- Errors carry SQLSTATE class TP (TPL01 …) so that the code can name them.

CREATE FUNCTION ledger_balance_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_balances (account_id, normal_side, no_negative)
  VALUES (NEW.id, CASE WHEN NEW.type IN ('asset', 'expense') THEN 'debit' ELSE 'credit' END, NEW.no_negative);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_accounts_balance_row AFTER INSERT ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_balance_row();
--> statement-breakpoint
CREATE FUNCTION ledger_account_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  b ledger_balances;
BEGIN
  IF NEW.id <> OLD.id OR NEW.code <> OLD.code OR NEW.type <> OLD.type OR NEW.currency <> OLD.currency THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL08',
      MESSAGE = format('ledger account %s: id, code, type and currency never change', OLD.code);
  END IF;
  IF OLD.status = 'closed' AND NEW.status = 'open' THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL08', MESSAGE = format('ledger account %s is closed for good', OLD.code);
  END IF;
  SELECT * INTO b FROM ledger_balances WHERE account_id = NEW.id FOR UPDATE;
  IF NEW.status = 'closed' AND OLD.status = 'open' AND (b.debits_posted <> b.credits_posted
      OR b.debits_pending <> 0 OR b.credits_pending <> 0) THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL07',
      MESSAGE = format('ledger account %s still has a balance or pending amounts', OLD.code);
  END IF;
  IF NEW.no_negative <> OLD.no_negative THEN
    UPDATE ledger_balances SET no_negative = NEW.no_negative WHERE account_id = NEW.id;
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_accounts_update BEFORE UPDATE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_account_update();
--> statement-breakpoint
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'TPL05',
    MESSAGE = format('%s is append-only: write a reversing entry instead of changing one', TG_TABLE_NAME);
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_postings_immutable BEFORE UPDATE OR DELETE ON ledger_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE OR TRUNCATE ON ledger_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
-- A resolution (post / void / expire) of a pending entry releases everything the pending entry
-- reserved; a post's own postings then add the posted part.
CREATE FUNCTION ledger_entry_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  target ledger_entries;
BEGIN
  IF NEW.reverses_entry_id IS NOT NULL THEN
    SELECT * INTO target FROM ledger_entries WHERE id = NEW.reverses_entry_id;
    IF target.kind NOT IN ('posted', 'post_pending') THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s is %s: only posted entries can be reversed', target.id, target.kind);
    END IF;
  END IF;
  IF NEW.pending_entry_id IS NOT NULL THEN
    SELECT * INTO target FROM ledger_entries WHERE id = NEW.pending_entry_id;
    IF target.kind IS DISTINCT FROM 'pending' THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s is not a pending entry', NEW.pending_entry_id);
    END IF;
    PERFORM 1 FROM ledger_balances
      WHERE account_id IN (SELECT account_id FROM ledger_postings WHERE entry_id = target.id)
      ORDER BY account_id FOR UPDATE;
    UPDATE ledger_balances b
      SET debits_pending = b.debits_pending - d.debits,
          credits_pending = b.credits_pending - d.credits,
          updated_at = now()
      FROM (SELECT account_id,
                   coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0)::bigint AS debits,
                   coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)::bigint AS credits
              FROM ledger_postings WHERE entry_id = target.id GROUP BY account_id) d
      WHERE b.account_id = d.account_id;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_inserted AFTER INSERT ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_entry_inserted();
--> statement-breakpoint
CREATE FUNCTION ledger_entry_has_postings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_postings WHERE entry_id = NEW.id) THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL02',
      MESSAGE = format('entry %s (%s) has no postings: it needs at least two', NEW.id, NEW.kind);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_entries_have_postings AFTER INSERT ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.kind IN ('posted', 'pending', 'post_pending'))
  EXECUTE FUNCTION ledger_entry_has_postings();
--> statement-breakpoint
CREATE FUNCTION ledger_postings_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  checks record;
  bad record;
BEGIN
  -- One query finds whether anything is wrong; the rare failures are then named precisely.
  SELECT
    (SELECT n.entry_id FROM (SELECT entry_id, count(*) AS c FROM new_postings GROUP BY entry_id) n
      WHERE n.c < 2 OR n.c <> (SELECT count(*) FROM ledger_postings p WHERE p.entry_id = n.entry_id)
      LIMIT 1) AS miscounted,
    (SELECT entry_id FROM new_postings GROUP BY entry_id, currency
      HAVING sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) <> 0 LIMIT 1) AS unbalanced,
    (SELECT a.code FROM (SELECT DISTINCT account_id FROM new_postings) x
       CROSS JOIN LATERAL (SELECT code, status FROM ledger_accounts WHERE id = x.account_id) a
      WHERE a.status <> 'open' LIMIT 1) AS closed_account,
    (SELECT x.entry_id FROM (SELECT entry_id, bool_and(pending) AS all_pending, bool_or(pending) AS any_pending
                               FROM new_postings GROUP BY entry_id) x
       CROSS JOIN LATERAL (SELECT kind FROM ledger_entries WHERE id = x.entry_id) e
      WHERE e.kind IN ('post_pending', 'void_pending', 'expire_pending')
         OR x.all_pending <> (e.kind = 'pending') OR x.any_pending <> (e.kind = 'pending')
      LIMIT 1) AS needs_phase_check
  INTO checks;

  IF checks.miscounted IS NOT NULL THEN
    SELECT count(*) AS c INTO bad FROM new_postings WHERE entry_id = checks.miscounted;
    IF bad.c < 2 THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL02',
        MESSAGE = format('entry %s has %s posting(s): it needs at least two', checks.miscounted, bad.c);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'TPL05',
      MESSAGE = format('entry %s already had postings: postings are written once, with their entry', checks.miscounted);
  END IF;
  IF checks.unbalanced IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL01',
      MESSAGE = format('entry %s does not balance: debits must equal credits per currency', checks.unbalanced);
  END IF;
  IF checks.closed_account IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL03', MESSAGE = format('ledger account %s is closed', checks.closed_account);
  END IF;

  IF checks.needs_phase_check IS NOT NULL THEN
    -- Pending postings belong to pending entries; releases (void, expire) have none; a posted part of
    -- a pending entry stays within what was pending for that account and side.
    SELECT e.id, e.kind INTO bad FROM ledger_entries e
      WHERE e.id IN (SELECT entry_id FROM new_postings)
        AND (e.kind IN ('void_pending', 'expire_pending')
             OR EXISTS (SELECT 1 FROM new_postings p WHERE p.entry_id = e.id AND p.pending <> (e.kind = 'pending')))
      LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s (%s) has postings of the wrong phase', bad.id, bad.kind);
    END IF;
    SELECT x.entry_id INTO bad
      FROM (SELECT p.entry_id, p.account_id, p.side, sum(p.amount) AS amount
              FROM new_postings p GROUP BY p.entry_id, p.account_id, p.side) x
      JOIN ledger_entries e ON e.id = x.entry_id AND e.kind = 'post_pending'
      WHERE x.amount > coalesce((SELECT sum(q.amount) FROM ledger_postings q
                                  WHERE q.entry_id = e.pending_entry_id AND q.account_id = x.account_id
                                    AND q.side = x.side), 0)
      LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL09',
        MESSAGE = format('entry %s posts more than its pending entry reserved', bad.entry_id);
    END IF;
  END IF;

  -- Balances. Rows are taken in account order (the sorted aggregate drives a nested loop over the
  -- primary key), so concurrent statements lock them in the same order.
  UPDATE ledger_balances b
    SET debits_posted = b.debits_posted + d.debits_posted,
        credits_posted = b.credits_posted + d.credits_posted,
        debits_pending = b.debits_pending + d.debits_pending,
        credits_pending = b.credits_pending + d.credits_pending,
        updated_at = now()
    FROM (SELECT account_id,
                 coalesce(sum(amount) FILTER (WHERE side = 'debit' AND NOT pending), 0)::bigint AS debits_posted,
                 coalesce(sum(amount) FILTER (WHERE side = 'credit' AND NOT pending), 0)::bigint AS credits_posted,
                 coalesce(sum(amount) FILTER (WHERE side = 'debit' AND pending), 0)::bigint AS debits_pending,
                 coalesce(sum(amount) FILTER (WHERE side = 'credit' AND pending), 0)::bigint AS credits_pending
            FROM new_postings GROUP BY account_id ORDER BY account_id) d
    WHERE b.account_id = d.account_id;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_postings_inserted AFTER INSERT ON ledger_postings
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_inserted();
