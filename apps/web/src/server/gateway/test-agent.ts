import { PROTOCOL_VERSION, type ServerMessage } from '@anneal/protocol';
import { WebSocket } from 'ws';

export const testHardware = {
  backend: 'cpu',
  os: 'linux',
  chip: { vendor: 'test', name: 'test cpu', family: null, tier: null, gpuArchitecture: null },
  memory: { totalBytes: 8e9, workingSetBytes: 4e9, unified: true },
  cores: { logical: 2, performance: 2, efficiency: 0 },
  mlxVersion: '0.0.0',
  blas: 'none',
} as const;

/** A scripted agent for gateway tests: sends raw frames, queues what the server says. */
export class TestAgent {
  readonly received: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as ServerMessage);
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on('error', () => {});
  }

  static dial(url: string, token: string): Promise<TestAgent | { status: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/agent`, {
        headers: { authorization: `Bearer ${token}` },
      });
      ws.once('open', () => resolve(new TestAgent(ws)));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
      ws.once('error', reject);
    });
  }

  /**
   * Dials and says hello (with `hello`'s fields over the defaults: features, leases, a
   * budget...), then waits for the welcome.
   */
  static async connect(
    url: string,
    token: string,
    capacity = 1,
    name = 'test-agent',
    hello: Record<string, unknown> = {},
  ) {
    const agent = await TestAgent.dial(url, token);
    if (!(agent instanceof TestAgent)) throw new Error(`dial refused: ${agent.status}`);
    agent.send({
      type: 'hello',
      agentVersion: '0.1.0',
      protocolVersion: PROTOCOL_VERSION,
      name,
      hardware: testHardware,
      capacity,
      ...hello,
    });
    await agent.next('welcome');
    return agent;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message of a type (consumed), waiting up to `ms`. */
  async next<T extends ServerMessage['type']>(
    type: T,
    ms = 10_000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + ms;
    while (true) {
      const i = this.received.findIndex((m) => m.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as Extract<ServerMessage, { type: T }>;
      if (this.closed) throw new Error(`closed (${this.closed.code}) while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitClosed(ms = 5000) {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close() {
    this.ws.terminate();
  }
}
