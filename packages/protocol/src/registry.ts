// Names in the model registry, checked alike by the server and by the CLI before it uploads.
import { z } from 'zod';

/** A registered model's name. */
export const modelNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, {
    message: 'use letters, digits, ".", "_" or "-" (at most 100)',
  });

/** An alias that points at one version of a model (production, staging, ...). */
export const aliasSchema = z
  .string()
  .trim()
  .regex(/^[a-z][a-z0-9_-]{0,49}$/, { message: 'use lowercase letters, digits, "_" or "-"' });
