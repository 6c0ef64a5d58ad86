import { describe, expect, it } from 'vitest';
import { login } from './login.ts';

// Without a terminal nothing can be asked: the error says what to pass for what is missing.
const run = (...argv: string[]) =>
  login.run(['--server', 'http://127.0.0.1:9', ...argv], {
    out: () => {},
    err: () => {},
    stdinIsTTY: false,
  });

describe('anneal login without a terminal', () => {
  it('names what is missing and what to pass', async () => {
    await expect(run()).rejects.toThrow(
      /the email and password cannot be asked for: pass --email E --password-stdin/,
    );
    await expect(run('--email', 'a@b.c')).rejects.toThrow(
      /the password cannot be asked for: pass --email E --password-stdin/,
    );
    await expect(run('--password-stdin')).rejects.toThrow(
      /so the email cannot be asked for: pass --email E \(the password is read from stdin\)/,
    );
  });
});
