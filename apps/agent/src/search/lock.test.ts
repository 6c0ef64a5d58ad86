import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockSearch, SEARCH_LOCK_FILE } from './lock.ts';

describe('lockSearch', () => {
  it("holds the folder for this process, refuses while a running process holds it, and takes over a dead one's", () => {
    const out = mkdtempSync(join(tmpdir(), 'anneal-search-lock-'));
    const path = join(out, SEARCH_LOCK_FILE);
    const release = lockSearch(out);
    expect(readFileSync(path, 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(existsSync(path)).toBe(false);

    // Held by a process that runs (this one's parent): refused, naming it and the file.
    writeFileSync(path, `${process.ppid}\n`);
    expect(() => lockSearch(out)).toThrow(
      new RegExp(`is being searched by process ${process.ppid}: .*remove ${path}`),
    );
    // Releasing a lock this process no longer holds leaves it.
    release();
    expect(readFileSync(path, 'utf8').trim()).toBe(String(process.ppid));

    // Left by a process that has exited: taken over.
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    writeFileSync(path, `${gone}\n`);
    const again = lockSearch(out);
    expect(readFileSync(path, 'utf8').trim()).toBe(String(process.pid));
    // An unreadable lock is taken over too.
    again();
    writeFileSync(path, 'not a pid');
    lockSearch(out)();
    expect(existsSync(path)).toBe(false);
  });
});
