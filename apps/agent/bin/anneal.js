#!/usr/bin/env node
// Node 20 cannot run TypeScript itself; tsx's loader compiles the CLI's sources on the fly.
import { register } from 'tsx/esm/api';

register();
// Under an agent each job runs in a child with an IPC channel: when the agent dies, the
// job dies with it instead of running on, unowned. The channel alone keeps no one alive.
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => process.exit(137));
}
// Before the engine loads: OpenBLAS reads its variables once, when it is loaded.
const { blasEnvFor } = await import('../src/blas-env.ts');
Object.assign(process.env, blasEnvFor(process.argv[2], process.env));
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
