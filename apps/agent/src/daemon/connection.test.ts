import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { AgentConnection, ConnectionState } from './connection.ts';

const servers: WebSocketServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function server(onHello: (ws: import('ws').WebSocket, n: number) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(wss);
  await new Promise((resolve) => wss.once('listening', resolve));
  let n = 0;
  wss.on('connection', (ws) => ws.once('message', () => onHello(ws, ++n)));
  return `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

const welcome = JSON.stringify({
  type: 'welcome',
  agentId: '11111111-1111-4111-8111-111111111111',
  protocolVersion: 1,
  heartbeatMs: 50,
  leaseMs: 150,
});

function connection(url: string, states: string[]) {
  return new AgentConnection({
    url,
    token: 't',
    hello: () => ({ type: 'hello' }) as never,
    heartbeat: (seq) => ({ type: 'heartbeat', seq, capacity: 1, leases: [] }),
    onMessage: () => {},
    onStateChange: (s, d) => states.push(`${s}:${d}`),
    backoff: { baseMs: 20, maxMs: 100 },
    ackTimeoutMs: 200,
    random: () => 1,
  });
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
};

describe('agent connection state machine', () => {
  it('reconnects with backoff when heartbeats go unacknowledged, and stays down after a manual disconnect', async () => {
    // The server welcomes but never acks heartbeats: the ack timeout tears the socket down.
    const url = await server((ws) => ws.send(welcome));
    const states: string[] = [];
    const c = connection(url, states);
    c.connect();
    await until(() => states.filter((s) => s.startsWith('ready')).length >= 2);
    expect(states.some((s) => s.startsWith('backoff'))).toBe(true);
    c.disconnect();
    expect(c.state).toBe(ConnectionState.Closed);
    const count = states.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(states.length).toBe(count);
  });

  it('does not reconnect after a close code that says retrying cannot help', async () => {
    const url = await server((ws) => ws.close(4002, 'protocol 2 is not the server’s 1'));
    const states: string[] = [];
    const c = connection(url, states);
    c.connect();
    await until(() => c.state === ConnectionState.Closed);
    expect(states.at(-1)).toMatch(/closed:4002 .*version mismatch/);
  });
});
