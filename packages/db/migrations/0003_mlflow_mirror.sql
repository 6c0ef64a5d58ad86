CREATE TABLE "mlflow_mirror_runs" (
	"run_id" uuid PRIMARY KEY NOT NULL,
	"remote_run_id" text NOT NULL,
	"remote_artifact_uri" text NOT NULL,
	"metric_steps" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"pushed" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"artifacts" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mlflow_mirror_versions" (
	"version_id" uuid PRIMARY KEY NOT NULL,
	"remote_version" text NOT NULL,
	"aliases" jsonb DEFAULT '[]'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mlflow_mirrors" (
	"project_id" uuid PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"token" text,
	"experiment_id" text,
	"last_sync_at" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "mlflow_mirror_runs" ADD CONSTRAINT "mlflow_mirror_runs_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mlflow_mirror_versions" ADD CONSTRAINT "mlflow_mirror_versions_version_id_model_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."model_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mlflow_mirrors" ADD CONSTRAINT "mlflow_mirrors_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;