ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_expiry";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_pvv";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_pan_hash_format";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ADD CONSTRAINT "card_network_sim_cards_pvv" CHECK (octet_length("card_network_sim_cards"."pvv") = 32);--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ADD CONSTRAINT "card_network_sim_cards_pan_hash_format" CHECK (octet_length("card_network_sim_cards"."pan_hash") = 64);