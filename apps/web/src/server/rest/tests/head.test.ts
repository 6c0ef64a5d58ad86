import { createServer, type Server } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Harness, startHarness } from '../../testing/harness.ts';
import { createRestHandler, REST_PREFIX } from '../dispatch.ts';
import { defineRoute } from '../route.ts';

// HEAD answers a download's headers without reading its bytes: DVC probes every object.
let h: Harness;
let server: Server;
let base: string;
let reads = 0;

beforeAll(async () => {
  h = await startHarness();
  const route = defineRoute({
    method: 'GET',
    path: '/probe',
    access: 'public',
    tag: 'test',
    summary: 'a 3-byte download that counts its reads',
    query: z.object({}),
    response: { status: 200, description: 'bytes' },
    handle: async () => ({
      stream: new Readable({
        read() {
          reads++;
          this.push(Buffer.from('abc'));
          this.push(null);
        },
      }),
      size: 3,
      contentType: 'application/octet-stream',
    }),
  });
  const handler = createRestHandler(h.services, [route]);
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}${REST_PREFIX}`;
}, 120_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await h?.stop();
});

describe('HEAD on a download', () => {
  it('sends the headers and never reads the stream', async () => {
    const head = await fetch(`${base}/probe`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('3');
    expect(await head.text()).toBe('');
    expect(reads).toBe(0);
    const get = await fetch(`${base}/probe`);
    expect(await get.text()).toBe('abc');
    expect(reads).toBe(1);
  });
});
