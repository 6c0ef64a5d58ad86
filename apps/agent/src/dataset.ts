import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { importFolder } from '@anneal/datasets/folder';
import { type DatasetRef, datasetRefSchema, parseDatasetFlag } from '@anneal/datasets/ref';
import { materialize } from '@anneal/datasets/shards';
import type { CommandIO } from './commands/command.ts';

export interface LocalDataset {
  name: string;
  /** The ref the shards were made from, options filled in. */
  ref: DatasetRef;
  hash: string;
  /** The images' side, or their height when `width` is given. */
  resolution: number;
  /** Non-square images (a multi-resolution model's aspect bucket): resolution x width. */
  width?: number;
  /**
   * One bucket of the version (`buckets-<target>-<factor>-<min count>/<H>x<W>`): its own
   * images, so its own extractor and real sets, not the whole version's.
   */
  bucket?: string;
  channels: number;
  /** Class names; empty for unlabelled data. */
  classes: string[];
  train: string[];
  heldout: string[];
  trainCount: number;
  /** Held-out images (absent where the caller did not read it). */
  heldoutCount?: number;
}

/**
 * Turns `--dataset mnist|shapes|folder:PATH` into tensor shards on disk (cached by content
 * hash and resolution under ANNEAL_HOME). A folder is imported first; what it skipped is
 * reported by name.
 */
export async function prepareDataset(
  flag: string,
  resolution: number,
  io: CommandIO,
  options: { home?: string; strict?: boolean } = {},
): Promise<LocalDataset> {
  let parsed: ReturnType<typeof parseDatasetFlag>;
  try {
    parsed = parseDatasetFlag(flag);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `--dataset: ${(err as Error).message}`);
  }
  let ref: Parameters<typeof materialize>[0];
  let name: string;
  if (parsed.kind === 'folder') {
    const report = await importFolder(parsed.path, {
      home: options.home,
      strict: options.strict ?? false,
    });
    for (const s of report.skipped) io.err(`skipped ${s.relpath}: ${s.reason}`);
    ref = report.ref;
    name = `folder:${parsed.path}`;
  } else {
    ref = parsed;
    name = parsed.name;
  }
  return materializeRef(ref, name, resolution, options.home);
}

/**
 * Turns `--dataset-ref JSON` (a DatasetRef as job specs carry it: a built-in with its
 * options, or a version already in the local store) into tensor shards.
 */
export async function prepareDatasetRef(
  json: string,
  resolution: number,
  options: { home?: string } = {},
): Promise<LocalDataset> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new AppError('BAD_REQUEST', `--dataset-ref: not JSON (${(err as Error).message})`);
  }
  const parsed = datasetRefSchema.safeParse(raw);
  if (!parsed.success)
    throw new AppError(
      'BAD_REQUEST',
      `--dataset-ref: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(ref)'}: ${i.message}`).join('; ')}`,
    );
  const ref: DatasetRef = parsed.data;
  const name = ref.kind === 'builtin' ? ref.name : `version:${ref.id}`;
  return materializeRef(ref, name, resolution, options.home);
}

async function materializeRef(
  ref: Parameters<typeof materialize>[0],
  name: string,
  resolution: number,
  home: string | undefined,
): Promise<LocalDataset> {
  const m = await materialize(ref, { resolution, home });
  return {
    name,
    ref: m.manifest.source,
    hash: m.manifest.hash,
    resolution,
    channels: m.manifest.channels,
    classes: m.manifest.classes,
    train: m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)),
    heldout: m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)),
    trainCount: m.manifest.splits.train.count,
  };
}
