import { MLFLOW_LIMITS } from './routes/common.ts';

/**
 * What the mirror sends fits MLflow's limits (mlflow/utils/validation.py), so that one long
 * value never makes MLflow refuse a batch, and with it every later pass: values are cut to
 * MLflow's lengths, keys MLflow would refuse are left out (cutting a key could merge two),
 * and log-batch bodies stay under the count limits and well under 1,000,000 bytes.
 */
export type Entry = { key: string; value: string };

/** Keys MLflow takes: at most 250 characters, letters, digits, `_-. /:`, a normalized relative path. */
export function mlflowKeyProblem(key: string): string | null {
  if (key.length === 0) return 'empty';
  if (key.length > MLFLOW_LIMITS.keyLength)
    return `longer than MLflow's ${MLFLOW_LIMITS.keyLength} characters`;
  if (!/^[\p{L}\p{N}\p{Mn}_\-. /:]+$/u.test(key)) return 'has characters MLflow refuses';
  // MLflow refuses a key that posixpath.normpath would change.
  if (key.split('/').some((p) => p === '' || p === '.' || p === '..'))
    return 'is not a normalized relative path';
  return null;
}

/** Entries MLflow takes, values cut to `maxValue`; the keys left out, with why. */
export function fitEntries(entries: Entry[], maxValue: number): { kept: Entry[]; left: string[] } {
  const kept: Entry[] = [];
  const left: string[] = [];
  for (const e of entries) {
    const problem = mlflowKeyProblem(e.key);
    if (problem) left.push(`${e.key.slice(0, 80)} (${problem})`);
    else kept.push({ key: e.key, value: Array.from(e.value).slice(0, maxValue).join('') });
  }
  return { kept, left };
}

/** The budget for one log-batch body: MLflow's 1,000,000 bytes, less room for the envelope. */
export const BATCH_BYTES = 900_000;

/**
 * Params and tags in log-batch bodies: at most 100 of each, and at most BATCH_BYTES of JSON
 * each (100 tags of 8,000 characters alone are 800 kB; with 100 params, over the limit).
 */
export function paramTagBatches(
  params: Entry[],
  tags: Entry[],
): { params: Entry[]; tags: Entry[] }[] {
  const batches: { params: Entry[]; tags: Entry[] }[] = [];
  let current = { params: [] as Entry[], tags: [] as Entry[] };
  let bytes = 0;
  const add = (kind: 'params' | 'tags', e: Entry) => {
    const size = Buffer.byteLength(JSON.stringify(e)) + 1;
    if (
      current[kind].length >= MLFLOW_LIMITS.paramsTagsPerBatch ||
      (bytes + size > BATCH_BYTES && current.params.length + current.tags.length > 0)
    ) {
      batches.push(current);
      current = { params: [], tags: [] };
      bytes = 0;
    }
    current[kind].push(e);
    bytes += size;
  };
  for (const p of params) add('params', p);
  for (const t of tags) add('tags', t);
  if (current.params.length + current.tags.length > 0) batches.push(current);
  return batches;
}
