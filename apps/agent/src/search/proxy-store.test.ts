import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@anneal/datasets/shards';
import { searchSummaryFixture } from '@anneal/protocol/testing';
import { describe, expect, it } from 'vitest';
import type { ProxySettings } from './proxy.ts';
import {
  checkpointStep,
  keepFinished,
  keepRung,
  proxyStore,
  restoreRung,
  storedRung,
} from './proxy-store.ts';
import type { CandidateState } from './state.ts';

// The store only moves checkpoint files and scores; a checkpoint here is written by hand
// (weights with the step in their metadata, as Trainer.saveCheckpoint writes them).
const root = mkdtempSync(join(tmpdir(), 'anneal-proxy-store-'));
const settings = searchSummaryFixture.settings.proxy as ProxySettings;

function checkpoint(dir: string, step: number) {
  mkdirSync(dir, { recursive: true });
  const w = { dtype: 'F32', shape: [1], data: new Uint8Array(new Float32Array([step]).buffer) };
  writeFileSync(
    join(dir, 'model.safetensors'),
    encodeSafetensors([['w', w as never]], { step: String(step) }),
  );
  writeFileSync(join(dir, 'trainer-state.safetensors'), `state at ${step}`);
  writeFileSync(join(dir, 'config.json'), '{}');
}

describe('the proxy store', () => {
  it('is one per teacher and recipe; the checkpoint interval is not part of it', () => {
    const t = { weights: 'w1', config: { parameterization: 'v' } };
    const a = proxyStore(root, t, settings, 40);
    expect(proxyStore(root, t, { ...settings, checkpointEvery: 10 }, 40)).toBe(a);
    expect(proxyStore(root, { ...t, weights: 'w2' }, settings, 40)).not.toBe(a);
    expect(proxyStore(root, { ...t, config: { parameterization: 'eps' } }, settings, 40)).not.toBe(
      a,
    );
    expect(proxyStore(root, t, { ...settings, lr: 1e-3 }, 40)).not.toBe(a);
    expect(proxyStore(root, t, settings, 80)).not.toBe(a);
    // Exact inheritance is what stores held before the choice: the same store; narrowed, another.
    expect(proxyStore(root, t, { ...settings, inherit: 'exact' }, 40)).toBe(a);
    expect(proxyStore(root, t, { ...settings, inherit: 'narrowed' }, 40)).not.toBe(a);
  });

  it('keeps a rung and restores it into a candidate folder, replacing what was there', () => {
    const store = proxyStore(root, { weights: 'keep', config: {} }, settings, 40);
    const dir = join(root, 'search-a', 'candidates', 'w16.32-l1-a..-g8');
    checkpoint(dir, 100);
    expect(checkpointStep(dir)).toBe(100);
    expect(storedRung(store, 'w16.32-l1-a..-g8', 100)).toBeNull();
    keepRung(store, 'w16.32-l1-a..-g8', 100, dir, { proxy: 0.15, trainSeconds: 300 });
    expect(storedRung(store, 'w16.32-l1-a..-g8', 100)).toEqual({ proxy: 0.15, trainSeconds: 300 });
    const other = join(root, 'search-b', 'candidates', 'w16.32-l1-a..-g8');
    checkpoint(other, 150);
    restoreRung(store, 'w16.32-l1-a..-g8', 100, other);
    expect(checkpointStep(other)).toBe(100);
    expect(readFileSync(join(other, 'trainer-state.safetensors'), 'utf8')).toBe('state at 100');
    // A score without its checkpoint (a store a killed process left half written) is no hit.
    writeFileSync(
      join(store, 'w16.32-l1-a..-g8', 'scores.json'),
      JSON.stringify({
        100: { proxy: 0.15, trainSeconds: 300 },
        200: { proxy: 0.1, trainSeconds: 1 },
      }),
    );
    expect(storedRung(store, 'w16.32-l1-a..-g8', 200)).toBeNull();
    writeFileSync(join(store, 'w16.32-l1-a..-g8', 'scores.json'), '{"100": ');
    expect(storedRung(store, 'w16.32-l1-a..-g8', 100)).toBeNull();
  });

  it("keeps what an earlier search's folders still hold at a finished rung", () => {
    const store = proxyStore(root, { weights: 'backfill', config: {} }, settings, 40);
    const out = join(root, 'search-c');
    const cand = (name: string, rungs: number[], at: number | null) => {
      if (at !== null) checkpoint(join(out, 'candidates', name), at);
      return {
        name,
        rungs: rungs.map((iters) => ({ iters, proxy: 1 / iters, trainSeconds: iters })),
      } as unknown as CandidateState;
    };
    const kept = keepFinished(store, out, [
      cand('halved', [100], 100),
      // Trained past its last rung (stopped part way into the next): not a rung's checkpoint.
      cand('moving', [100], 150),
      cand('gone', [100, 200], null),
    ]);
    expect(kept).toBe(1);
    expect(storedRung(store, 'halved', 100)).toEqual({ proxy: 0.01, trainSeconds: 100 });
    expect(storedRung(store, 'moving', 100)).toBeNull();
    // Kept once.
    expect(keepFinished(store, out, [cand('halved', [100], 100)])).toBe(0);
  });
});
