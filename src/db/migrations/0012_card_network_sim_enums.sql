CREATE TYPE "public"."card_network_sim_authorization_status" AS ENUM('approved', 'declined', 'reversed', 'voided', 'refunded_partial', 'refunded', 'completed');--> statement-breakpoint
CREATE TYPE "public"."card_network_sim_card_behaviour" AS ENUM('normal', 'no_answer', 'late_approval');--> statement-breakpoint
CREATE TYPE "public"."card_network_sim_card_kind" AS ENUM('debit', 'credit');--> statement-breakpoint
CREATE TYPE "public"."card_network_sim_card_status" AS ENUM('active', 'lost', 'stolen');--> statement-breakpoint
CREATE TYPE "public"."card_network_sim_operation" AS ENUM('balance', 'sale', 'void', 'refund', 'preauth', 'preauth_void', 'completion', 'completion_void');--> statement-breakpoint
ALTER TABLE "card_network_sim_authorizations" DROP CONSTRAINT "card_network_sim_authorizations_operation";--> statement-breakpoint
ALTER TABLE "card_network_sim_authorizations" DROP CONSTRAINT "card_network_sim_authorizations_status";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_kind";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_status";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" DROP CONSTRAINT "card_network_sim_cards_behaviour";--> statement-breakpoint
ALTER TABLE "card_network_sim_authorizations" ALTER COLUMN "operation" SET DATA TYPE "public"."card_network_sim_operation" USING "operation"::"public"."card_network_sim_operation";--> statement-breakpoint
ALTER TABLE "card_network_sim_authorizations" ALTER COLUMN "status" SET DATA TYPE "public"."card_network_sim_authorization_status" USING "status"::"public"."card_network_sim_authorization_status";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ALTER COLUMN "kind" SET DATA TYPE "public"."card_network_sim_card_kind" USING "kind"::"public"."card_network_sim_card_kind";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ALTER COLUMN "status" SET DEFAULT 'active'::"public"."card_network_sim_card_status";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ALTER COLUMN "status" SET DATA TYPE "public"."card_network_sim_card_status" USING "status"::"public"."card_network_sim_card_status";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ALTER COLUMN "behaviour" SET DEFAULT 'normal'::"public"."card_network_sim_card_behaviour";--> statement-breakpoint
ALTER TABLE "card_network_sim_cards" ALTER COLUMN "behaviour" SET DATA TYPE "public"."card_network_sim_card_behaviour" USING "behaviour"::"public"."card_network_sim_card_behaviour";