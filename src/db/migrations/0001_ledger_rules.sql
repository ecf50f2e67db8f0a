-- Ledger rules enforced by the database, whatever the code does. Beside the constraints of the
-- tables (a posting's currency is its account's; a posting joins its entry only in the transaction
-- that wrote the entry; accounts that may not go negative never do):
--   * at commit, every entry has at least two postings that balance per currency, on open accounts,
--     of the right phase (pending entries' postings are pending, others' posted; releases have none), and a
--     posted part of a pending entry stays within what was pending, per account and side;
--   * a resolution targets a pending entry; a reversal a posted one (each at most once: indexes);
--   * a closed account's balance row never changes again;
--   * entries, postings and accounts are never deleted, entries and postings never updated.
-- Balances are kept by the write path in the same statement as the postings (one UPDATE per
-- account per batch); `tillpoint ledger verify` recomputes them from the postings.
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
  IF NEW.status = 'closed' AND OLD.status = 'open' THEN
    IF b.debits_posted <> b.credits_posted OR b.debits_pending <> 0 OR b.credits_pending <> 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL07',
        MESSAGE = format('ledger account %s still has a balance or pending amounts', OLD.code);
    END IF;
    UPDATE ledger_balances SET closed = true, updated_at = now() WHERE account_id = NEW.id;
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
CREATE FUNCTION ledger_closed_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'TPL03',
    MESSAGE = format('ledger account %s is closed', (SELECT code FROM ledger_accounts WHERE id = OLD.account_id));
END $$;
--> statement-breakpoint
-- The WHEN clause is evaluated without calling the function: open accounts pay nothing for it.
CREATE TRIGGER ledger_balances_closed BEFORE UPDATE ON ledger_balances
  FOR EACH ROW WHEN (OLD.closed) EXECUTE FUNCTION ledger_closed_balance();
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
-- A resolution must target a pending entry, a reversal a posted one.
CREATE FUNCTION ledger_entry_targets() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  target_kind text;
BEGIN
  IF NEW.reverses_entry_id IS NOT NULL THEN
    SELECT kind INTO target_kind FROM ledger_entries WHERE id = NEW.reverses_entry_id;
    IF target_kind NOT IN ('posted', 'post_pending') THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s is %s: only posted entries can be reversed', NEW.reverses_entry_id, target_kind);
    END IF;
  END IF;
  IF NEW.pending_entry_id IS NOT NULL THEN
    SELECT kind INTO target_kind FROM ledger_entries WHERE id = NEW.pending_entry_id;
    IF target_kind IS DISTINCT FROM 'pending' THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s is not a pending entry', NEW.pending_entry_id);
    END IF;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_targets AFTER INSERT ON ledger_entries
  FOR EACH ROW WHEN (NEW.pending_entry_id IS NOT NULL OR NEW.reverses_entry_id IS NOT NULL)
  EXECUTE FUNCTION ledger_entry_targets();
--> statement-breakpoint
CREATE FUNCTION ledger_entry_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  SELECT coalesce(sum(x.c), 0) AS n, coalesce(bool_and(x.s = 0), true) AS balanced,
         coalesce(sum(x.wrong), 0) AS wrong_phase
    INTO r
    FROM (SELECT count(*) AS c,
                 sum(CASE side WHEN 'debit' THEN amount ELSE -amount END) AS s,
                 count(*) FILTER (WHERE pending <> (NEW.kind = 'pending')) AS wrong
            FROM ledger_postings WHERE entry_id = NEW.id GROUP BY currency) x;
  IF NEW.kind IN ('void_pending', 'expire_pending') THEN
    IF r.n <> 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'TPL06',
        MESSAGE = format('entry %s (%s) releases a pending entry and has no postings of its own', NEW.id, NEW.kind);
    END IF;
    RETURN NULL;
  END IF;
  IF r.n < 2 THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL02',
      MESSAGE = format('entry %s has %s posting(s): it needs at least two', NEW.id, r.n);
  END IF;
  IF NOT r.balanced THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL01',
      MESSAGE = format('entry %s does not balance: debits must equal credits per currency', NEW.id);
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id
              WHERE p.entry_id = NEW.id AND a.status <> 'open') THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL03',
      MESSAGE = format('entry %s posts to a closed ledger account', NEW.id);
  END IF;
  IF r.wrong_phase <> 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL06',
      MESSAGE = format('entry %s (%s) has postings of the wrong phase', NEW.id, NEW.kind);
  END IF;
  IF NEW.kind = 'post_pending' AND EXISTS (
      SELECT 1
        FROM (SELECT account_id, side, sum(amount) AS amount FROM ledger_postings
               WHERE entry_id = NEW.id GROUP BY account_id, side) posted
        LEFT JOIN (SELECT account_id, side, sum(amount) AS amount FROM ledger_postings
                    WHERE entry_id = NEW.pending_entry_id GROUP BY account_id, side) reserved
          USING (account_id, side)
       WHERE posted.amount > coalesce(reserved.amount, 0)) THEN
    RAISE EXCEPTION USING ERRCODE = 'TPL09',
      MESSAGE = format('entry %s posts more than its pending entry reserved', NEW.id);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER ledger_entries_check AFTER INSERT ON ledger_entries
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_entry_check();
