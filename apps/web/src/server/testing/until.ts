/**
 * Polls `probe` until `ok` holds of its value, which it returns; past `ms`, fails naming what
 * it waited for and the last value (and `log`'s lines: a child's output, say). For tests.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  { ms = 90_000, every = 200, log = [] }: { ms?: number; every?: number; log?: string[] } = {},
): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, every));
    last = await probe();
  }
  return last;
}
