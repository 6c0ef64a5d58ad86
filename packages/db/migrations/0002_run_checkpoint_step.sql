ALTER TABLE "runs" ADD COLUMN "checkpoint_step" integer;--> statement-breakpoint
-- The resume step lived in the run tag `anneal.checkpoint_step`, where a tag update could
-- overwrite it: move well-formed values to the column, and take the tag out of user data.
UPDATE "runs" SET "checkpoint_step" = ("tags"->>'anneal.checkpoint_step')::integer WHERE "tags"->>'anneal.checkpoint_step' ~ '^[0-9]{1,9}$';--> statement-breakpoint
UPDATE "runs" SET "tags" = "tags" - 'anneal.checkpoint_step' WHERE "tags" ? 'anneal.checkpoint_step';
