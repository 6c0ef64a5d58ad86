#!/usr/bin/env node
// Node 20 cannot run TypeScript itself; tsx's loader compiles the server's sources on the fly.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
// `start` keeps serving; every other command exits with its code.
if (code !== null) process.exitCode = code;
