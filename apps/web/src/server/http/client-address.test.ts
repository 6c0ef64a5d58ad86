import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.ts';

/** The two fields clientAddress reads, as a connection would give them. */
const request = (peer: string, forwardedFor?: string) =>
  ({
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('reads X-Forwarded-For only from a trusted proxy', () => {
    const log: string[] = [];
    const warn = (line: string) => log.push(line);
    expect(clientAddress(request('::ffff:10.0.0.2', '1.2.3.4, 5.6.7.8'), ['10.0.0.2'], warn)).toBe(
      '5.6.7.8',
    );
    expect(clientAddress(request('10.0.0.3', '5.6.7.8'), ['10.0.0.2'], warn)).toBe('10.0.0.3');
    expect(clientAddress(request('10.0.0.3'), [], warn)).toBe('10.0.0.3');
  });

  it('warns once when X-Forwarded-For comes from a peer that is not trusted', () => {
    const log: string[] = [];
    const warn = (line: string) => log.push(line);
    clientAddress(request('10.0.0.3'), [], warn);
    clientAddress(request('10.0.0.2', '5.6.7.8'), ['10.0.0.2'], warn);
    expect(log).toEqual([]);
    clientAddress(request('::ffff:10.0.0.9', '5.6.7.8'), [], warn);
    clientAddress(request('10.0.0.9', '5.6.7.9'), [], warn);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(/from 10\.0\.0\.9, which is not in ANNEAL_TRUSTED_PROXIES/);
  });
});
