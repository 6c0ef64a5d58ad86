// The engine's GEMM ceiling measured in its own process, so it runs under the same thread
// environment as the training contenders (the runner's process has no pinned threads):
//   node --import tsx matmul-child.ts '{"n": 1024, "iterations": 5}'
import { measureMatmul } from '@anneal/engine';

const { n, iterations } = JSON.parse(process.argv[2] ?? '{}') as {
  n?: number;
  iterations?: number;
};
const r = await measureMatmul({ n, iterations });
console.log(JSON.stringify({ n, ...r }));
