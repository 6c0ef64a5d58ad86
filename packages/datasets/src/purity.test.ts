import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** Every module specifier reachable from `entry` through relative imports. */
function externalImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else external.add(spec);
    }
  };
  visit(join(here, entry));
  return external;
}

// The pure sub-paths are imported by the web app and job specs: they must not drag in
// the file system, sharp or the mnist data.
const PURE_ALLOWED = new Set(['zod', 'node:crypto', '@anneal/core/errors']);

describe('pure sub-paths', () => {
  for (const entry of ['ref.ts', 'builtins.ts', 'hash/index.ts', 'shapes/index.ts', 'images.ts']) {
    it(`${entry} imports only ${[...PURE_ALLOWED].join(', ')}`, () => {
      const bad = [...externalImports(entry)].filter((s) => !PURE_ALLOWED.has(s));
      expect(bad).toEqual([]);
    });
  }

  it('the check sees I/O where there is some', () => {
    expect(externalImports('shards/index.ts').has('sharp')).toBe(true);
  });
});
