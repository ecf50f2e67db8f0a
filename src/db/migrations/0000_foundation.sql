CREATE TABLE "audit_log" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"id" uuid NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text NOT NULL,
	"event" text NOT NULL,
	"object_type" text,
	"object_id" text,
	"source" text,
	"outcome" text NOT NULL,
	"details" text NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "audit_log_id_unique" UNIQUE("id"),
	CONSTRAINT "audit_log_actor_type" CHECK ("audit_log"."actor_type" IN ('user', 'operator', 'terminal', 'system')),
	CONSTRAINT "audit_log_outcome" CHECK ("audit_log"."outcome" IN ('success', 'failure', 'denied')),
	CONSTRAINT "audit_log_hash_format" CHECK ("audit_log"."hash" ~ '^[0-9a-f]{64}$' AND "audit_log"."prev_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "ledger_accounts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"currency" char(3) NOT NULL,
	"owner_type" text,
	"owner_id" text,
	"status" text DEFAULT 'open' NOT NULL,
	"no_negative" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone,
	CONSTRAINT "ledger_accounts_code_unique" UNIQUE("code"),
	CONSTRAINT "ledger_accounts_id_currency" UNIQUE("id","currency"),
	CONSTRAINT "ledger_accounts_type" CHECK ("ledger_accounts"."type" IN ('asset', 'liability', 'revenue', 'expense', 'equity')),
	CONSTRAINT "ledger_accounts_status" CHECK ("ledger_accounts"."status" IN ('open', 'closed')),
	CONSTRAINT "ledger_accounts_currency" CHECK ("ledger_accounts"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "ledger_accounts_code" CHECK ("ledger_accounts"."code" ~ '^[a-z0-9][a-z0-9:._-]{0,199}$')
);
--> statement-breakpoint
CREATE TABLE "ledger_balances" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"normal_side" text NOT NULL,
	"no_negative" boolean NOT NULL,
	"closed" boolean DEFAULT false NOT NULL,
	"debits_posted" bigint DEFAULT 0 NOT NULL,
	"credits_posted" bigint DEFAULT 0 NOT NULL,
	"debits_pending" bigint DEFAULT 0 NOT NULL,
	"credits_pending" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_balances_counters" CHECK ("ledger_balances"."debits_posted" >= 0 AND "ledger_balances"."credits_posted" >= 0 AND "ledger_balances"."debits_pending" >= 0 AND "ledger_balances"."credits_pending" >= 0),
	CONSTRAINT "ledger_balances_no_negative" CHECK (NOT "ledger_balances"."no_negative" OR CASE "ledger_balances"."normal_side"
        WHEN 'debit' THEN "ledger_balances"."credits_posted" + "ledger_balances"."credits_pending" <= "ledger_balances"."debits_posted"
        ELSE "ledger_balances"."debits_posted" + "ledger_balances"."debits_pending" <= "ledger_balances"."credits_posted" END)
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" uuid PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"kind" text NOT NULL,
	"business_date" date NOT NULL,
	"description" text NOT NULL,
	"reference_type" text,
	"reference_id" text,
	"pending_entry_id" uuid,
	"reverses_entry_id" uuid,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_tx" bigint DEFAULT (pg_current_xact_id()::text)::bigint NOT NULL,
	CONSTRAINT "ledger_entries_idempotency_key_unique" UNIQUE("idempotency_key"),
	CONSTRAINT "ledger_entries_id_tx" UNIQUE("id","created_tx"),
	CONSTRAINT "ledger_entries_kind" CHECK ("ledger_entries"."kind" IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
	CONSTRAINT "ledger_entries_resolution_has_pending" CHECK (("ledger_entries"."kind" IN ('post_pending', 'void_pending', 'expire_pending')) = ("ledger_entries"."pending_entry_id" IS NOT NULL)),
	CONSTRAINT "ledger_entries_expiry_only_pending" CHECK ("ledger_entries"."expires_at" IS NULL OR "ledger_entries"."kind" = 'pending'),
	CONSTRAINT "ledger_entries_reversal_is_posted" CHECK ("ledger_entries"."reverses_entry_id" IS NULL OR "ledger_entries"."kind" = 'posted')
);
--> statement-breakpoint
CREATE TABLE "ledger_postings" (
	"entry_id" uuid NOT NULL,
	"line" smallint NOT NULL,
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "ledger_postings_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 100),
	"entry_tx" bigint DEFAULT (pg_current_xact_id()::text)::bigint NOT NULL,
	"account_id" uuid NOT NULL,
	"currency" char(3) NOT NULL,
	"side" text NOT NULL,
	"amount" bigint NOT NULL,
	"pending" boolean NOT NULL,
	"business_date" date NOT NULL,
	CONSTRAINT "ledger_postings_pkey" PRIMARY KEY("entry_id","line"),
	CONSTRAINT "ledger_postings_amount" CHECK ("ledger_postings"."amount" > 0 AND "ledger_postings"."amount" <= 1000000000000000),
	CONSTRAINT "ledger_postings_side" CHECK ("ledger_postings"."side" IN ('debit', 'credit')),
	CONSTRAINT "ledger_postings_line" CHECK ("ledger_postings"."line" >= 1)
);
--> statement-breakpoint
ALTER TABLE "ledger_balances" ADD CONSTRAINT "ledger_balances_account_id_ledger_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."ledger_accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_pending" FOREIGN KEY ("pending_entry_id") REFERENCES "public"."ledger_entries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_reverses" FOREIGN KEY ("reverses_entry_id") REFERENCES "public"."ledger_entries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_postings" ADD CONSTRAINT "ledger_postings_entry" FOREIGN KEY ("entry_id","entry_tx") REFERENCES "public"."ledger_entries"("id","created_tx") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_postings" ADD CONSTRAINT "ledger_postings_account_currency" FOREIGN KEY ("account_id","currency") REFERENCES "public"."ledger_accounts"("id","currency") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_log_object" ON "audit_log" USING btree ("object_type","object_id");--> statement-breakpoint
CREATE INDEX "audit_log_actor" ON "audit_log" USING btree ("actor_type","actor_id");--> statement-breakpoint
CREATE INDEX "audit_log_event_time" ON "audit_log" USING btree ("event","occurred_at");--> statement-breakpoint
CREATE INDEX "ledger_accounts_owner" ON "ledger_accounts" USING btree ("owner_type","owner_id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_pending_entry_id_unique" ON "ledger_entries" USING btree ("pending_entry_id") WHERE "ledger_entries"."pending_entry_id" IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_reverses_entry_id_unique" ON "ledger_entries" USING btree ("reverses_entry_id") WHERE "ledger_entries"."reverses_entry_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "ledger_entries_reference" ON "ledger_entries" USING btree ("reference_type","reference_id") WHERE "ledger_entries"."reference_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "ledger_entries_expiring" ON "ledger_entries" USING btree ("expires_at") WHERE "ledger_entries"."kind" = 'pending' AND "ledger_entries"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "ledger_postings_account_history" ON "ledger_postings" USING btree ("account_id","id");