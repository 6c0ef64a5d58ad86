CREATE TABLE "logged_model_metrics" (
	"model_id" text NOT NULL,
	"key" text NOT NULL,
	"step" bigint NOT NULL,
	"value" double precision NOT NULL,
	"time" timestamp with time zone NOT NULL,
	"run_id" uuid,
	"dataset_name" text DEFAULT '' NOT NULL,
	"dataset_digest" text DEFAULT '' NOT NULL,
	CONSTRAINT "logged_model_metrics_model_id_key_step_dataset_name_dataset_digest_pk" PRIMARY KEY("model_id","key","step","dataset_name","dataset_digest")
);
--> statement-breakpoint
CREATE TABLE "logged_models" (
	"id" text PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"source_run_id" uuid NOT NULL,
	"source_step" bigint DEFAULT 0 NOT NULL,
	"name" text NOT NULL,
	"model_type" text DEFAULT '' NOT NULL,
	"status" text DEFAULT 'LOGGED_MODEL_PENDING' NOT NULL,
	"status_message" text DEFAULT '' NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"tags" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "projects" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "mlflow_inputs" jsonb DEFAULT '{"datasets":[],"models":[]}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "logged_model_metrics" ADD CONSTRAINT "logged_model_metrics_model_id_logged_models_id_fk" FOREIGN KEY ("model_id") REFERENCES "public"."logged_models"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "logged_model_metrics" ADD CONSTRAINT "logged_model_metrics_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "logged_models" ADD CONSTRAINT "logged_models_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "logged_models" ADD CONSTRAINT "logged_models_source_run_id_runs_id_fk" FOREIGN KEY ("source_run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "logged_models" ADD CONSTRAINT "logged_models_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "logged_models_project_idx" ON "logged_models" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "logged_models_run_idx" ON "logged_models" USING btree ("source_run_id");