import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KnownDevices } from './known-devices.ts';
import { loadServerKey } from './secrets.ts';

const homes: string[] = [];
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-key-'));
  homes.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of homes) rmSync(dir, { recursive: true, force: true });
});

const userId = '4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b';

describe('known-device cookies', () => {
  it('outlive a restart: the key is kept under ANNEAL_HOME, owner-only', () => {
    const dir = home();
    const cookie = new KnownDevices(loadServerKey(dir)).issue(userId);
    const again = new KnownDevices(loadServerKey(dir));
    expect(again.read(cookie)).toEqual({ userId, device: expect.any(String) });
    expect(statSync(join(dir, 'secrets', 'server-key')).mode & 0o777).toBe(0o600);
  });

  it('are new per device, and refused when altered or signed by another server', () => {
    const devices = new KnownDevices(loadServerKey(home()));
    const a = devices.issue(userId);
    const b = devices.issue(userId);
    expect(devices.read(a)?.device).not.toBe(devices.read(b)?.device);
    const [, device, mac] = a.split('.');
    const otherUser = '00000000-0000-4000-8000-000000000000';
    expect(devices.read(`${otherUser}.${device}.${mac}`)).toBeNull();
    expect(devices.read(`${userId}.${device}x.${mac}`)).toBeNull();
    expect(devices.read(`${a}.extra`)).toBeNull();
    expect(devices.read('')).toBeNull();
    expect(devices.read(undefined)).toBeNull();
    expect(new KnownDevices(loadServerKey(home())).read(a)).toBeNull();
  });
});
