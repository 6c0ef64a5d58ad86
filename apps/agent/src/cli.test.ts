import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './cli.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const repoRoot = join(import.meta.dirname, '..', '..', '..');

describe('anneal CLI', () => {
  it('lists commands with --help', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/doctor\s+check MLX/);
  });

  it('exits 2 naming an unknown command or flag', async () => {
    const c = capture();
    expect(await main(['frobnicate'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/unknown command "frobnicate"/);
    const d = capture();
    expect(await main(['doctor', '--frob'], d.io)).toBe(2);
    expect(d.err.join('\n')).toMatch(/'--frob'/);
    const e = capture();
    expect(await main(['doctor', '--memory-budget', 'lots', '--no-checks'], e.io)).toBe(1);
    expect(e.err.join('\n')).toMatch(/memory budget "lots"/);
  });

  it('runs `npx anneal doctor --json` from the repository root', () => {
    const r = spawnSync('npx', ['anneal', 'doctor', '--json'], { cwd: repoRoot, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1] ?? '');
    expect(report.backend).toBe(process.platform === 'darwin' ? 'metal' : 'cpu');
    expect(report.mlx_version).toMatch(/^0\.32\./);
    expect(report.memory.total_bytes).toBeGreaterThan(0);
    expect(report.memory.budget_bytes).toBeGreaterThan(0);
    expect(report.matmul_gflops).toBeGreaterThan(0);
    expect(report.conv_gflops).toBeGreaterThan(0);
  });
});
