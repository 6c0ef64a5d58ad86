// Child process of native-errors.test.ts: runs CASES[start..] in order against the addon and
// prints one JSON line before each call ({start}) and one after ({result}), so the parent can
// name the case that killed this process. Ends with a call that must still work ({alive}).

import { loadNative } from './native.ts';
import { CASES, makeFixtures } from './native-errors.cases.ts';

const [dir, startArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: native-errors.child.ts <dir> [start]');
const start = Number(startArg ?? 0);

// Writes to a pipe are synchronous on Linux and macOS, so a line printed before an abort arrives.
const emit = (line: unknown) => process.stdout.write(`${JSON.stringify(line)}\n`);

function describe(err: unknown) {
  const e = err as { code?: unknown; message?: unknown; constructor?: { name?: string } } | null;
  return {
    isError: err instanceof Error,
    ctor: e?.constructor?.name ?? typeof err,
    code: typeof e?.code === 'string' ? e.code : null,
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

const native = loadNative();
const fixtures = makeFixtures(native, dir);
for (let i = start; i < CASES.length; i++) {
  const c = CASES[i];
  if (!c) break;
  emit({ start: i });
  let outcome: Record<string, unknown>;
  try {
    const r = c.call(native, fixtures);
    if (r instanceof Promise) {
      try {
        await r;
        outcome = { mode: 'async', threw: false };
      } catch (err) {
        outcome = { mode: 'async', threw: true, ...describe(err) };
      }
    } else {
      outcome = { mode: 'sync', threw: false };
    }
  } catch (err) {
    outcome = { mode: 'sync', threw: true, ...describe(err) };
  }
  emit({ result: i, ...outcome });
}
const m = native.ops.matmul(new Float32Array([1, 2]), [1, 2], new Float32Array([3, 4]), [2, 1]);
emit({ alive: Array.from(m.data) });
