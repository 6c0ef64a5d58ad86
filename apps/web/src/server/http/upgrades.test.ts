import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { type Harness, startHarness } from '../testing/harness.ts';
import { UpgradeRoutes } from './upgrades.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({}, { gateway: false });
});
afterAll(() => h?.stop());

function dial(path: string): Promise<{ opened: boolean; status?: number; message?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}${path}`);
    ws.on('open', () =>
      ws.once('message', (m) => {
        ws.close();
        resolve({ opened: true, message: String(m) });
      }),
    );
    ws.on('unexpected-response', (_req, res) => resolve({ opened: false, status: res.statusCode }));
    ws.on('error', () => resolve({ opened: false }));
  });
}

describe('WebSocket upgrades', () => {
  it('keeps /agent reserved until the gateway attaches, then hands it the socket', async () => {
    expect(await dial('/agent')).toMatchObject({ opened: false, status: 503 });
    const wss = new WebSocketServer({ noServer: true });
    h.server.upgrades.register('/agent', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.send('welcome')),
    );
    expect(await dial('/agent?token=x')).toEqual({ opened: true, message: 'welcome' });
    expect(() => h.server.upgrades.register('/agent', () => {})).toThrow(/already registered/);
    wss.close();
  });

  it('passes other paths to the pages handler (refused here, where no Next runs)', async () => {
    expect(await dial('/_next/webpack-hmr')).toMatchObject({ opened: false, status: 503 });
  });
});

describe('UpgradeRoutes', () => {
  it('sends every path but the reserved ones to the fallback (Next)', () => {
    const routes = new UpgradeRoutes();
    const seen: string[] = [];
    const fallback = (req: { url?: string }) => seen.push(req.url ?? '');
    const ended: string[] = [];
    const socket = { end: (s: string) => ended.push(s) } as never;
    routes.handle(
      { url: '/_next/webpack-hmr?id=1' } as never,
      socket,
      Buffer.alloc(0),
      fallback as never,
    );
    routes.handle({ url: '/agent' } as never, socket, Buffer.alloc(0), fallback as never);
    expect(seen).toEqual(['/_next/webpack-hmr?id=1']);
    expect(ended[0]).toMatch(/^HTTP\/1.1 503/);
  });
});
