import { z } from 'zod';

/** What the hardware probe reports; agents send it in `hello`, the server stores it. */
export const hardwareProfileSchema = z.object({
  backend: z.enum(['metal', 'cuda', 'cpu']),
  os: z.string(),
  chip: z.object({
    vendor: z.string(),
    name: z.string(),
    family: z.string().nullable(),
    tier: z.string().nullable(),
    gpuArchitecture: z.string().nullable(),
  }),
  memory: z.object({
    totalBytes: z.number().nonnegative(),
    workingSetBytes: z.number().nonnegative(),
    unified: z.boolean(),
  }),
  cores: z.object({
    logical: z.number().int().nonnegative(),
    performance: z.number().int().nonnegative(),
    efficiency: z.number().int().nonnegative(),
  }),
  mlxVersion: z.string(),
  blas: z.string(),
});
export type HardwareProfile = z.infer<typeof hardwareProfileSchema>;
