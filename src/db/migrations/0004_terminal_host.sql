CREATE TABLE "host_messages" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "host_messages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 100),
	"at" timestamp with time zone NOT NULL,
	"direction" text NOT NULL,
	"remote" text,
	"terminal_id" text,
	"merchant_id" text,
	"mti" char(4),
	"trace" char(6),
	"response_code" char(2),
	"outcome" text NOT NULL,
	"elapsed_us" integer,
	"payment_id" uuid,
	"dump" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "merchant_operators" (
	"merchant_id" text NOT NULL,
	"code" text NOT NULL,
	"name" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "merchant_operators_pkey" PRIMARY KEY("merchant_id","code"),
	CONSTRAINT "merchant_operators_code" CHECK ("merchant_operators"."code" ~ '^[0-9A-Za-z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "merchants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"mcc" char(4) DEFAULT '5411' NOT NULL,
	"single_limit_minor" bigint DEFAULT 5000000 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "merchants_id" CHECK ("merchants"."id" ~ '^[0-9A-Za-z]{15}$'),
	CONSTRAINT "merchants_kind" CHECK ("merchants"."kind" IN ('enterprise', 'individual')),
	CONSTRAINT "merchants_status" CHECK ("merchants"."status" IN ('active', 'suspended', 'closed')),
	CONSTRAINT "merchants_limit" CHECK ("merchants"."single_limit_minor" > 0)
);
--> statement-breakpoint
CREATE TABLE "batch_exceptions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"terminal_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"batch_no" integer NOT NULL,
	"trace" char(6) NOT NULL,
	"kind" text NOT NULL,
	"host_amount_minor" bigint,
	"terminal_amount_minor" bigint,
	"payment_id" uuid,
	"status" text DEFAULT 'open' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "batch_exceptions_line" UNIQUE("terminal_id","batch_no","trace","kind")
);
--> statement-breakpoint
CREATE TABLE "batch_upload_lines" (
	"terminal_id" text NOT NULL,
	"batch_no" integer NOT NULL,
	"trace" char(6) NOT NULL,
	"card_organization" text NOT NULL,
	"pan_hash" text NOT NULL,
	"pan_masked" text NOT NULL,
	"amount_minor" bigint NOT NULL,
	"uploaded_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "batch_upload_lines_pkey" PRIMARY KEY("terminal_id","batch_no","trace")
);
--> statement-breakpoint
CREATE TABLE "card_payments" (
	"id" uuid PRIMARY KEY NOT NULL,
	"terminal_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"batch_no" integer NOT NULL,
	"trace" char(6) NOT NULL,
	"request_mti" char(4) NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"response_code" char(2) NOT NULL,
	"amount_minor" bigint NOT NULL,
	"currency" char(3) DEFAULT 'CNY' NOT NULL,
	"pan_hash" text,
	"pan_masked" text,
	"card_organization" text,
	"entry_mode" char(3),
	"operator_code" text,
	"rrn" char(12),
	"auth_code" char(6),
	"network_stan" char(6),
	"issuer_code" text,
	"original_id" uuid,
	"refunded_minor" bigint DEFAULT 0 NOT NULL,
	"balance_minor" bigint,
	"request_hash" text NOT NULL,
	"local_time" char(6) NOT NULL,
	"local_date" char(4) NOT NULL,
	"settlement_date" char(4) NOT NULL,
	"ledger_entry_id" uuid,
	"hold_expires_at" timestamp with time zone,
	"business_date" date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "card_payments_request" UNIQUE("terminal_id","merchant_id","batch_no","trace","request_mti"),
	CONSTRAINT "card_payments_amount" CHECK ("card_payments"."amount_minor" >= 0 AND "card_payments"."amount_minor" <= 1000000000000000),
	CONSTRAINT "card_payments_refunded" CHECK ("card_payments"."refunded_minor" >= 0 AND "card_payments"."refunded_minor" <= "card_payments"."amount_minor"),
	CONSTRAINT "card_payments_trace" CHECK ("card_payments"."trace" ~ '^[0-9]{6}$')
);
--> statement-breakpoint
CREATE TABLE "network_reversals" (
	"id" uuid PRIMARY KEY NOT NULL,
	"payment_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"request" jsonb NOT NULL,
	"card_token" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"acknowledged_at" timestamp with time zone,
	CONSTRAINT "network_reversals_payment_id_unique" UNIQUE("payment_id")
);
--> statement-breakpoint
CREATE TABLE "terminal_batches" (
	"terminal_id" text NOT NULL,
	"batch_no" integer NOT NULL,
	"merchant_id" text NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"settlement" text,
	"host_totals" jsonb,
	"terminal_totals" jsonb,
	"opened_at" timestamp with time zone DEFAULT now() NOT NULL,
	"closed_at" timestamp with time zone,
	CONSTRAINT "terminal_batches_pkey" PRIMARY KEY("terminal_id","batch_no"),
	CONSTRAINT "terminal_batches_status" CHECK ("terminal_batches"."status" IN ('open', 'uploading', 'closed'))
);
--> statement-breakpoint
CREATE TABLE "terminals" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"serial_number" text,
	"model" text,
	"status" text DEFAULT 'active' NOT NULL,
	"algorithm" text NOT NULL,
	"mac_algorithm" text DEFAULT 'ecb' NOT NULL,
	"tmk_key_id" uuid,
	"batch_no" integer DEFAULT 1 NOT NULL,
	"keys_version" integer,
	"operator_code" text,
	"signed_in_at" timestamp with time zone,
	"mac_failures" integer DEFAULT 0 NOT NULL,
	"revision" bigint DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "terminals_id" CHECK ("terminals"."id" ~ '^[0-9A-Za-z]{8}$'),
	CONSTRAINT "terminals_status" CHECK ("terminals"."status" IN ('active', 'inactive', 'retired')),
	CONSTRAINT "terminals_algorithm" CHECK ("terminals"."algorithm" IN ('3des', 'sm4')),
	CONSTRAINT "terminals_mac_algorithm" CHECK ("terminals"."mac_algorithm" IN ('ecb', 'x99')),
	CONSTRAINT "terminals_batch" CHECK ("terminals"."batch_no" BETWEEN 1 AND 999999),
	CONSTRAINT "terminals_mac_failures" CHECK ("terminals"."mac_failures" >= 0)
);
--> statement-breakpoint
ALTER TABLE "merchant_operators" ADD CONSTRAINT "merchant_operators_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "host_messages_terminal_time" ON "host_messages" USING btree ("terminal_id","at");--> statement-breakpoint
CREATE INDEX "host_messages_payment" ON "host_messages" USING btree ("payment_id") WHERE "host_messages"."payment_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "card_payments_batch" ON "card_payments" USING btree ("terminal_id","batch_no");--> statement-breakpoint
CREATE INDEX "card_payments_rrn" ON "card_payments" USING btree ("rrn") WHERE "card_payments"."rrn" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "card_payments_original" ON "card_payments" USING btree ("original_id") WHERE "card_payments"."original_id" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "card_payments_holds" ON "card_payments" USING btree ("hold_expires_at") WHERE "card_payments"."kind" = 'preauth' AND "card_payments"."status" = 'approved';--> statement-breakpoint
CREATE INDEX "network_reversals_due" ON "network_reversals" USING btree ("next_attempt_at") WHERE "network_reversals"."status" = 'pending';