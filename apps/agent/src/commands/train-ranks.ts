// `anneal train --ranks N`: data-parallel training on this machine. Starts N `anneal train`
// processes as one group on MLX's ring backend over loopback (a hostfile of N free local
// ports), each with `--hostfile FILE --rank R`, and supervises them as one run: rank 0's
// output is the run's output; a rank that fails takes the others down (a surviving rank
// would wait on its peer forever), naming the rank and its last lines; SIGINT/SIGTERM reach
// every rank once, and the ranks stop together at the next step boundary they agree on.
//
// Several Macs: the same command with the hostfile written by hand, one rank per machine
// (`anneal train ... --hostfile hosts.json --rank R` on each); docs/distributed.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../args.ts';
import type { CommandIO } from './command.ts';

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));

/** A port on 127.0.0.1 free right now (the OS's choice). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', r);
  });
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** MLX's ring hostfile: one list of "host:port" per rank. */
export async function loopbackHostfile(ranks: number): Promise<string[][]> {
  const hosts: string[][] = [];
  const seen = new Set<number>();
  while (hosts.length < ranks) {
    const port = await freePort();
    if (seen.has(port)) continue;
    seen.add(port);
    hosts.push([`127.0.0.1:${port}`]);
  }
  return hosts;
}

/** `argv` without `--ranks N` / `--ranks=N`. */
export function withoutRanks(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--ranks') {
      i++;
      continue;
    }
    if (a.startsWith('--ranks=')) continue;
    out.push(a);
  }
  return out;
}

interface Rank {
  rank: number;
  proc: ChildProcess;
  tail: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the ranks; resolves with the exit code of the run (rank 0's, or 1 when any failed). */
export async function launchRanks(
  argv: readonly string[],
  ranks: number,
  io: CommandIO,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (argv.some((a) => /^--(rank|hostfile)(=|$)/.test(a)))
    throw new UsageError(
      '--ranks: starts the ranks itself; give either --ranks N or --hostfile FILE --rank R',
    );
  const dir = mkdtempSync(join(tmpdir(), 'anneal-ranks-'));
  const hostfile = join(dir, 'hosts.json');
  writeFileSync(hostfile, `${JSON.stringify(await loopbackHostfile(ranks))}\n`);
  const args = [...withoutRanks(argv), '--hostfile', hostfile];
  // The ranks share this machine's cores: each gets its share of BLAS threads unless the
  // caller chose (N processes each spawning a thread per core only fight over the cores).
  const threads = String(Math.max(1, Math.floor(availableParallelism() / ranks)));
  const rankEnv = {
    ...env,
    OPENBLAS_NUM_THREADS: env.OPENBLAS_NUM_THREADS ?? threads,
    OMP_NUM_THREADS: env.OMP_NUM_THREADS ?? threads,
    // And its share of the memory budget (train.ts divides it).
    ANNEAL_LOCAL_RANKS: String(ranks),
  };
  const children: Rank[] = [];
  for (let r = 0; r < ranks; r++) {
    const proc = spawn(process.execPath, [ANNEAL_BIN, 'train', ...args, '--rank', String(r)], {
      env: rankEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const keep = (line: string) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
    };
    const lines = (stream: NodeJS.ReadableStream | null, each: (line: string) => void) => {
      let buf = '';
      stream?.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          each(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
        }
      });
      stream?.on('end', () => {
        if (buf) each(buf);
      });
    };
    // Rank 0 speaks for the run; the others are heard only when they fail.
    lines(proc.stdout, r === 0 ? (l) => io.out(l) : keep);
    lines(proc.stderr, r === 0 ? (l) => io.err(l) : keep);
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('close', (code, signal) => resolve({ code, signal })),
    );
    children.push({ rank: r, proc, tail, exit });
  }
  // The first SIGINT or SIGTERM asks every rank to stop (once: the ranks then stop together at
  // their next agreed step); a third one, for a group that does not stop, ends every rank.
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) for (const c of children) c.proc.kill('SIGTERM');
    else if (signals === 2)
      io.err(
        'anneal train: stopping; the ranks stop together at their next agreed step (once more to kill them)',
      );
    else for (const c of children) c.proc.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let failed: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null = null;
  try {
    await Promise.all(
      children.map(async (c) => {
        const { code, signal } = await c.exit;
        // 130: stopped on a signal, with its checkpoint written; and a rank a signal ended while
        // the run was being stopped: neither is a failure of the group.
        const stopped = signals > 0 && (signal === 'SIGTERM' || signal === 'SIGINT');
        if (code === 0 || code === 130 || stopped || failed) return;
        failed = { rank: c.rank, code, signal };
        for (const other of children) if (other !== c) other.proc.kill('SIGKILL');
      }),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(dir, { recursive: true, force: true });
  }
  const f = failed as { rank: number; code: number | null; signal: NodeJS.Signals | null } | null;
  if (f) {
    // Rank 0's lines were shown as they came.
    const tail = f.rank === 0 ? [] : (children[f.rank]?.tail ?? []);
    io.err(
      `anneal train: rank ${f.rank} of ${ranks} ${f.signal ? `was killed (${f.signal})` : `exited with code ${f.code}`}; the other ranks were stopped${
        tail.length
          ? `. Its last lines:\n${tail.map((l) => `  [rank ${f.rank}] ${l}`).join('\n')}`
          : ''
      }`,
    );
    return f.code && f.code !== 0 ? f.code : 1;
  }
  const first = await children[0]?.exit;
  return first?.code ?? (signals > 0 ? 130 : 1);
}
