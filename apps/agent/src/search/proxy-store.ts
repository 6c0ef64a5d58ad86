// The quality proxy does not depend on the hardware or on what speed means: a candidate
// trained as the teacher's student for the same iterations, with the same settings, scores the
// same on any profile. So every rung a search trains is kept on this machine (the candidate's
// checkpoint at that rung and its score), and a later search of the same teacher (another
// objective, another thread count) reads it instead of training it again. Costs are never
// shared: they are measured per profile.
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE, MODEL_FILE, TRAINER_STATE_FILE, writeFileAtomic } from '@anneal/engine';
import type { ProxySettings } from './proxy.ts';
import type { CandidateState } from './state.ts';

const FILES = [MODEL_FILE, TRAINER_STATE_FILE, CONFIG_FILE] as const;
const SCORES = 'scores.json';

export interface StoredRung {
  proxy: number | null;
  trainSeconds: number;
}

/**
 * The store of one teacher (its weights and config) and proxy recipe under `root`. The
 * learning-rate warm-up is part of the recipe (a share of the last rung's iterations).
 */
export function proxyStore(
  root: string,
  teacher: { weights: string; config: unknown },
  settings: ProxySettings,
  warmup: number,
): string {
  // Exact inheritance is what stores held before the choice: their keys stay as they were.
  const { checkpointEvery: _every, inherit, ...rest } = settings;
  const recipe = inherit === 'exact' ? rest : { ...rest, inherit };
  const key = createHash('sha256')
    .update(JSON.stringify({ version: 1, teacher, recipe, warmup }))
    .digest('hex')
    .slice(0, 24);
  return join(root, key);
}

function scoresOf(store: string, name: string): Record<string, StoredRung> {
  const path = join(store, name, SCORES);
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, StoredRung>;
  } catch {
    // A store written by a killed process is a cache: what cannot be read is trained again.
    return {};
  }
}

/**
 * Where a training stopped: its iterations, and for a full training whose rate decayed, the
 * decay's start (`fullPoint`): the same iterations under another schedule are another model.
 */
export type RungPoint = number | string;

/** A full training's point: its iterations, tagged with the decay when the rate decayed. */
export function fullPoint(iters: number, anneal: { from: number } | undefined): RungPoint {
  return anneal ? `${iters}-cosine-from-${anneal.from}` : iters;
}

const rungDir = (store: string, name: string, at: RungPoint) => join(store, name, `iters-${at}`);

/** The candidate's score at `at` (its iterations), when its checkpoint there is kept too. */
export function storedRung(store: string, name: string, at: RungPoint): StoredRung | null {
  const hit = scoresOf(store, name)[String(at)];
  if (!hit) return null;
  const dir = rungDir(store, name, at);
  return FILES.every((f) => existsSync(join(dir, f))) ? hit : null;
}

/**
 * The furthest kept checkpoint of the candidate at the constant rate (a rung, or a full
 * training that did not decay) at or before `upTo`; null when none is kept.
 */
export function furthestConstant(store: string, name: string, upTo: number): number | null {
  const points = Object.keys(scoresOf(store, name))
    .filter((k) => /^\d+$/.test(k))
    .map(Number)
    .filter((at) => at <= upTo && storedRung(store, name, at))
    .sort((a, b) => b - a);
  return points[0] ?? null;
}

/**
 * Replaces the candidate's folder with its kept checkpoint at `at`: copied beside, then moved
 * in, so a process killed while copying leaves the folder as it was (a folder without its
 * trainer state would train again from the teacher's weights).
 */
export function restoreRung(store: string, name: string, at: RungPoint, dir: string): void {
  const tmp = `${dir}.${process.pid}.tmp`;
  const old = `${dir}.${process.pid}.old`;
  for (const d of [tmp, old]) rmSync(d, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of FILES) copyFileSync(join(rungDir(store, name, at), f), join(tmp, f));
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Keeps the candidate's checkpoint in `dir` (at `at`) and its score. */
export function keepRung(
  store: string,
  name: string,
  at: RungPoint,
  dir: string,
  score: StoredRung,
): void {
  if (storedRung(store, name, at)) return;
  // Copied beside, then moved in: a search of the same teacher running at the same time never
  // reads a half-copied checkpoint.
  const to = rungDir(store, name, at);
  const tmp = `${to}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of FILES) copyFileSync(join(dir, f), join(tmp, f));
  rmSync(to, { recursive: true, force: true });
  renameSync(tmp, to);
  // The score last: it is what says the checkpoint beside it is whole.
  const scores = { ...scoresOf(store, name), [String(at)]: score };
  writeFileAtomic(join(store, name, SCORES), `${JSON.stringify(scores, null, 2)}\n`);
}

/** The training step a candidate's checkpoint was saved at (its weights' metadata), or null. */
export function checkpointStep(dir: string): number | null {
  const path = join(dir, MODEL_FILE);
  if (!existsSync(path)) return null;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return null;
    const size = Number(head.readBigUInt64LE(0));
    if (size > 1 << 24) return null;
    const json = Buffer.alloc(size);
    if (readSync(fd, json, 0, size, 8) !== size) return null;
    const step = Number(JSON.parse(json.toString('utf8')).__metadata__?.step);
    return Number.isInteger(step) ? step : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Keeps what a search's folders already hold and the store lacks: a candidate whose checkpoint
 * is still at its last rung (one halved out), or at its full training. For searches that
 * trained before the store existed; the rest is kept as it is trained.
 */
export function keepFinished(store: string, out: string, candidates: CandidateState[]): number {
  let kept = 0;
  for (const c of candidates) {
    const dir = join(out, 'candidates', c.name);
    const at = checkpointStep(dir);
    const last = c.full ?? c.rungs.at(-1);
    if (at === null || !last || last.iters !== at) continue;
    const point = c.full?.anneal ? fullPoint(at, c.full.anneal) : at;
    if (storedRung(store, c.name, point)) continue;
    keepRung(store, c.name, point, dir, {
      proxy: Number.isFinite(last.proxy) ? last.proxy : null,
      trainSeconds: last.trainSeconds,
    });
    kept++;
  }
  return kept;
}
