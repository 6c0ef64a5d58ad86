import { join } from 'node:path';
import { AppError } from '@anneal/core/errors';
import { importFolder } from '@anneal/datasets/folder';
import { parseDatasetFlag } from '@anneal/datasets/ref';
import { materialize } from '@anneal/datasets/shards';
import type { CommandIO } from './commands/command.ts';

export interface LocalDataset {
  name: string;
  hash: string;
  resolution: number;
  channels: number;
  /** Class names; empty for unlabelled data. */
  classes: string[];
  train: string[];
  heldout: string[];
  trainCount: number;
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
  const m = await materialize(ref, { resolution, home: options.home });
  return {
    name,
    hash: m.manifest.hash,
    resolution,
    channels: m.manifest.channels,
    classes: m.manifest.classes,
    train: m.manifest.splits.train.shards.map((s) => join(m.dir, s.file)),
    heldout: m.manifest.splits.heldout.shards.map((s) => join(m.dir, s.file)),
    trainCount: m.manifest.splits.train.count,
  };
}
