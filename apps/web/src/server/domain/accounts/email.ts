import { z } from 'zod';

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: 'not an email address' }));
export const passwordSchema = z
  .string()
  .min(8, { message: 'must be at least 8 characters' })
  .max(200, { message: 'must be at most 200 characters' });
export const orgNameSchema = z.string().trim().min(1, { message: 'is required' }).max(100);
