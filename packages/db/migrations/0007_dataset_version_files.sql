CREATE TABLE "dataset_version_files" (
	"version_id" uuid NOT NULL,
	"relpath" text NOT NULL,
	"sha256" text NOT NULL,
	CONSTRAINT "dataset_version_files_version_id_relpath_pk" PRIMARY KEY("version_id","relpath")
);
--> statement-breakpoint
ALTER TABLE "dataset_version_files" ADD CONSTRAINT "dataset_version_files_version_id_dataset_versions_id_fk" FOREIGN KEY ("version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "dataset_version_files_sha256" ON "dataset_version_files" USING btree ("version_id","sha256");--> statement-breakpoint
-- Versions stored before this table: their files from the manifest (old-format rows, whose
-- files have no sha256, have none; agents cannot read them either).
INSERT INTO "dataset_version_files" ("version_id", "relpath", "sha256")
SELECT dv."id", f->>'relpath', f->>'sha256'
FROM "dataset_versions" dv
CROSS JOIN LATERAL jsonb_array_elements(
  CASE WHEN jsonb_typeof(dv."manifest"->'files') = 'array' THEN dv."manifest"->'files' ELSE '[]'::jsonb END
) AS f
WHERE f ? 'relpath' AND f ? 'sha256'
ON CONFLICT DO NOTHING;
