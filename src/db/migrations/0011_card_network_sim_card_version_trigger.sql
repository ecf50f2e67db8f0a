-- The card-network simulator trusts a card row it remembers while the row's version is the one it
-- remembers: every write must change the version. The simulator writes a random one itself; this
-- trigger draws one for any other UPDATE that leaves it as it was (an older simulator during a
-- rolling upgrade, a hand-written fix), so that no write goes unseen. The WHEN clause is checked in
-- C: the simulator's own updates never call the function.
CREATE FUNCTION card_network_sim_cards_new_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := (random() * 9.2e18)::bigint;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER card_network_sim_cards_version BEFORE UPDATE ON card_network_sim_cards
  FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION card_network_sim_cards_new_version();
