CREATE TYPE "public"."alert_status" AS ENUM('open', 'acknowledged', 'resolved');--> statement-breakpoint
CREATE TYPE "public"."generation_status" AS ENUM('succeeded', 'failed', 'rejected');--> statement-breakpoint
CREATE TYPE "public"."probe_status" AS ENUM('queued', 'succeeded', 'failed');--> statement-breakpoint
CREATE TYPE "public"."replica_status" AS ENUM('starting', 'ready', 'draining', 'stopped', 'failed');--> statement-breakpoint
CREATE TABLE "deployment_probes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"deployment_id" uuid NOT NULL,
	"model_version_id" uuid NOT NULL,
	"job_id" uuid,
	"run_id" uuid,
	"trigger" text NOT NULL,
	"status" "probe_status" DEFAULT 'queued' NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "deployment_replicas" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"deployment_id" uuid NOT NULL,
	"agent_id" uuid,
	"model_version_id" uuid NOT NULL,
	"status" "replica_status" DEFAULT 'starting' NOT NULL,
	"detail" text,
	"load_ms" real,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ready_at" timestamp with time zone,
	"stopped_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "generation_requests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"deployment_id" uuid NOT NULL,
	"replica_id" uuid,
	"model_version_id" uuid,
	"status" "generation_status" NOT NULL,
	"params" jsonb NOT NULL,
	"images" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"grid" text,
	"queue_ms" real,
	"latency_ms" real,
	"generate_ms" real,
	"nfe" integer,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deployments" DROP CONSTRAINT "deployments_agent_id_agents_id_fk";
--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "deployment_id" uuid;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "rule_key" text;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "status" "alert_status" DEFAULT 'open' NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "evidence" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "suggestion" jsonb;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "delivery" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "acknowledged_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "acknowledged_by" uuid;--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "name" text NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "model_id" uuid NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "alias" text;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "detail" text;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "desired_replicas" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "queue_limit" integer DEFAULT 16 NOT NULL;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "probe" jsonb;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "alerting" jsonb;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "webhook_secret" text;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "baseline_probe_id" uuid;--> statement-breakpoint
ALTER TABLE "deployments" ADD COLUMN "created_by" uuid;--> statement-breakpoint
ALTER TABLE "deployment_probes" ADD CONSTRAINT "deployment_probes_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_probes" ADD CONSTRAINT "deployment_probes_model_version_id_model_versions_id_fk" FOREIGN KEY ("model_version_id") REFERENCES "public"."model_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_probes" ADD CONSTRAINT "deployment_probes_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_probes" ADD CONSTRAINT "deployment_probes_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_replicas" ADD CONSTRAINT "deployment_replicas_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_replicas" ADD CONSTRAINT "deployment_replicas_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployment_replicas" ADD CONSTRAINT "deployment_replicas_model_version_id_model_versions_id_fk" FOREIGN KEY ("model_version_id") REFERENCES "public"."model_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_requests" ADD CONSTRAINT "generation_requests_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_requests" ADD CONSTRAINT "generation_requests_replica_id_deployment_replicas_id_fk" FOREIGN KEY ("replica_id") REFERENCES "public"."deployment_replicas"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "generation_requests" ADD CONSTRAINT "generation_requests_model_version_id_model_versions_id_fk" FOREIGN KEY ("model_version_id") REFERENCES "public"."model_versions"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "deployment_probes_deployment_time" ON "deployment_probes" USING btree ("deployment_id","created_at");--> statement-breakpoint
CREATE INDEX "deployment_replicas_deployment" ON "deployment_replicas" USING btree ("deployment_id","status");--> statement-breakpoint
CREATE INDEX "generation_requests_deployment_time" ON "generation_requests" USING btree ("deployment_id","created_at");--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "alerts" ADD CONSTRAINT "alerts_acknowledged_by_users_id_fk" FOREIGN KEY ("acknowledged_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_model_id_registered_models_id_fk" FOREIGN KEY ("model_id") REFERENCES "public"."registered_models"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alerts_deployment_rule" ON "alerts" USING btree ("deployment_id","rule_key","status");--> statement-breakpoint
CREATE UNIQUE INDEX "deployments_project_name_unique" ON "deployments" USING btree ("project_id","name");--> statement-breakpoint
ALTER TABLE "deployments" DROP COLUMN "agent_id";