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
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '@anneal/core/errors';
import { type GroupInfo, groupSum, joinGroup } from '@anneal/engine';
import { UsageError } from '../args.ts';
import type { CommandIO } from './command.ts';

const ANNEAL_BIN = fileURLToPath(new URL('../../bin/anneal.js', import.meta.url));

/** A port free right now on `host` (an address of this machine), the OS's choice. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((r, reject) => {
    server.once('error', reject);
    server.listen(0, host, r);
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

/**
 * Runs the ranks of `anneal <command>` (train or distill); resolves with the exit code of the
 * run (rank 0's, or 1 when any failed).
 */
export async function launchRanks(
  argv: readonly string[],
  ranks: number,
  io: CommandIO,
  env: NodeJS.ProcessEnv = process.env,
  command: 'train' | 'distill' = 'train',
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
    // And its share of the memory budget (train.ts and distill.ts divide it).
    ANNEAL_LOCAL_RANKS: String(ranks),
  };
  const children: Rank[] = [];
  for (let r = 0; r < ranks; r++) {
    const proc = spawn(process.execPath, [ANNEAL_BIN, command, ...args, '--rank', String(r)], {
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
        `anneal ${command}: stopping; the ranks stop together at their next agreed step (once more to kill them)`,
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
      `anneal ${command}: rank ${f.rank} of ${ranks} ${f.signal ? `was killed (${f.signal})` : `exited with code ${f.code}`}; the other ranks were stopped${
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

// A rank's side of the group: joining it, and agreeing with the other ranks.

/**
 * A rank's share of the machine's memory budget: ranks started together on one machine
 * (--ranks, ANNEAL_LOCAL_RANKS) each plan within budget / ranks.
 */
export function localShare<B extends { bytes: number; source: string }>(budget: B): B {
  const localRanks = Number(process.env.ANNEAL_LOCAL_RANKS ?? 1);
  if (!Number.isInteger(localRanks) || localRanks <= 1) return budget;
  return {
    ...budget,
    bytes: Math.floor(budget.bytes / localRanks),
    source: `${budget.source}, shared by ${localRanks} ranks on this machine`,
  };
}

/** A 36-bit number from the text's sha256: equal texts, equal numbers. */
export function fingerprint(text: string): number {
  return Number.parseInt(createHash('sha256').update(text).digest('hex').slice(0, 9), 16);
}

/**
 * Refuses to train unless every rank has the same value for every field: ranks that differ in
 * their step (a stale checkpoint), data or schedule would sum gradients of different models,
 * or meet at different collectives and wait on each other. A collective: every rank calls it,
 * and every rank refuses alike. Values are non-negative integers below 2^36, summed in
 * float32 as 12-bit pieces (exact for up to 4096 ranks).
 */
export function agreeAcrossRanks(ranks: number, fields: Record<string, number>): void {
  const names = Object.keys(fields);
  const pieces = names.flatMap((k) => {
    const v = fields[k] as number;
    return [v % 4096, Math.floor(v / 4096) % 4096, Math.floor(v / 2 ** 24) % 4096];
  });
  const sums = groupSum(new Float32Array(pieces));
  names.forEach((name, i) => {
    for (let j = 3 * i; j < 3 * i + 3; j++)
      if (sums[j] !== (pieces[j] as number) * ranks)
        throw new AppError(
          'BAD_REQUEST',
          `the ranks disagree on ${name === 'step' ? 'the step they start from' : name} (this rank: ${
            name === 'dataset and model' ? 'its dataset hash and model config' : fields[name]
          }); start every rank with the same flags and dataset${
            name === 'step' ? ', and give every rank the same checkpoint to --resume' : ''
          }`,
        );
  });
}

/** Steps between the ranks' agreements on stopping (a signal reaches each at its own step). */
export const RANK_AGREE_EVERY = 10;

/**
 * Joins the group of `--hostfile FILE --rank R` (MLX's ring backend), or null without them.
 * MLX reads the rank and the hostfile from the environment.
 */
export function joinRanks(flags: { hostfile?: string; rank?: number }): GroupInfo | null {
  if (flags.hostfile === undefined && flags.rank === undefined) return null;
  if (flags.hostfile === undefined || flags.rank === undefined)
    throw new UsageError('--hostfile: give --hostfile FILE and --rank R together');
  const path = resolve(flags.hostfile);
  let hosts: unknown;
  try {
    hosts = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--hostfile: cannot read ${path} as JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(hosts) || hosts.length < 2)
    throw new UsageError(
      `--hostfile: ${path} must be a JSON list with one ["host:port"] per rank, at least 2`,
    );
  if (flags.rank >= hosts.length)
    throw new UsageError(`--rank: ${flags.rank} is not a rank of the ${hosts.length} in ${path}`);
  process.env.MLX_HOSTFILE = path;
  process.env.MLX_RANK = String(flags.rank);
  return joinGroup('ring');
}
