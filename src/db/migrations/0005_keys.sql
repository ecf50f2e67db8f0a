CREATE TABLE "card_tokens" (
	"token" text PRIMARY KEY NOT NULL,
	"pan_hash" text NOT NULL,
	"pan_hash_key_id" uuid NOT NULL,
	"pan_masked" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "card_tokens_pan_hash" UNIQUE("pan_hash"),
	CONSTRAINT "card_tokens_token" CHECK ("card_tokens"."token" ~ '^tok_[A-Za-z0-9_-]{22}$'),
	CONSTRAINT "card_tokens_pan_hash_format" CHECK ("card_tokens"."pan_hash" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "card_tokens_pan_masked" CHECK ("card_tokens"."pan_masked" ~ '^[0-9]{6}[*]{2,9}[0-9]{4}$')
);
--> statement-breakpoint
CREATE TABLE "card_vault" (
	"token" text PRIMARY KEY NOT NULL,
	"key_id" uuid NOT NULL,
	"pan_encrypted" "bytea" NOT NULL,
	"stored_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	"usage" text NOT NULL,
	"algorithm" text NOT NULL,
	"owner_type" text NOT NULL,
	"owner_id" text NOT NULL,
	"check_value" text NOT NULL,
	"version" integer NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"material_sealed" "bytea" NOT NULL,
	"master_key_id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "keys_version" UNIQUE("owner_type","owner_id","usage","version"),
	CONSTRAINT "keys_usage" CHECK ("keys"."usage" IN ('tmk', 'pin', 'mac', 'track', 'zpk', 'zmk', 'kek', 'data', 'pvk')),
	CONSTRAINT "keys_algorithm" CHECK ("keys"."algorithm" IN ('3des-2key', '3des-3key', 'sm4', 'aes-256')),
	CONSTRAINT "keys_owner_type" CHECK ("keys"."owner_type" IN ('terminal', 'institution', 'connector')),
	CONSTRAINT "keys_owner_id" CHECK (length("keys"."owner_id") BETWEEN 1 AND 100),
	CONSTRAINT "keys_label" CHECK (length("keys"."label") BETWEEN 1 AND 200),
	CONSTRAINT "keys_status" CHECK ("keys"."status" IN ('active', 'retired')),
	CONSTRAINT "keys_retired_at" CHECK (("keys"."status" = 'retired') = ("keys"."retired_at" IS NOT NULL)),
	CONSTRAINT "keys_check_value" CHECK ("keys"."check_value" ~ '^[0-9A-F]{8}$'),
	CONSTRAINT "keys_version_positive" CHECK ("keys"."version" >= 1),
	CONSTRAINT "keys_master_key_id" CHECK ("keys"."master_key_id" ~ '^[0-9a-f]{16}$')
);
--> statement-breakpoint
ALTER TABLE "card_tokens" ADD CONSTRAINT "card_tokens_pan_hash_key_id_keys_id_fk" FOREIGN KEY ("pan_hash_key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_vault" ADD CONSTRAINT "card_vault_token_card_tokens_token_fk" FOREIGN KEY ("token") REFERENCES "public"."card_tokens"("token") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "card_vault" ADD CONSTRAINT "card_vault_key_id_keys_id_fk" FOREIGN KEY ("key_id") REFERENCES "public"."keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "card_vault_key" ON "card_vault" USING btree ("key_id");--> statement-breakpoint
CREATE UNIQUE INDEX "keys_one_active" ON "keys" USING btree ("owner_type","owner_id","usage") WHERE "keys"."status" = 'active';