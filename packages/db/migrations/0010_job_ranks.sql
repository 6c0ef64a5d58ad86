CREATE TABLE "job_ranks" (
	"job_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"rank" integer NOT NULL,
	"group_lease_id" uuid NOT NULL,
	"lease_id" uuid NOT NULL,
	"agent_id" uuid,
	"lease_expires_at" timestamp with time zone NOT NULL,
	"address" text,
	"ready_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"leased_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "job_ranks_group_lease_id_rank_pk" PRIMARY KEY("group_lease_id","rank")
);
--> statement-breakpoint
ALTER TABLE "job_ranks" ADD CONSTRAINT "job_ranks_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "job_ranks" ADD CONSTRAINT "job_ranks_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "job_ranks_lease_unique" ON "job_ranks" USING btree ("lease_id");--> statement-breakpoint
CREATE INDEX "job_ranks_job_idx" ON "job_ranks" USING btree ("job_id");