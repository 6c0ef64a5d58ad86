import { AppError } from '@anneal/core';

/** How one kind of key (an account, a client address) is limited. */
export interface ThrottleLimits {
  /** Failures allowed before any wait. */
  freeFailures: number;
  /** The wait after the first failure past the free ones; each further failure doubles it. */
  baseDelayMs: number;
  /** The longest wait, however many failures. */
  maxDelayMs: number;
  /** A key's failures are forgotten this long after its last one (a sliding window). */
  forgetAfterMs: number;
}

export interface SignInLimits {
  /**
   * Per email, for attempts from devices the account does not know (any address, and every
   * token exchange): slows guessing spread over many addresses.
   */
  account: ThrottleLimits;
  /** Per client address, for any email from an unknown device: stops one address spraying. */
  address: ThrottleLimits;
  /** Per (email, known device): the only limit on a browser that signed in to the account. */
  device: ThrottleLimits;
}

/**
 * An attacker can keep the account's wait for unknown devices going for as long as they
 * like (failing from many addresses); the owner's browser is a known device and is held up
 * by its own failures only (OWASP's device cookies). The address wait grows to a quarter of
 * an hour, so one address cannot keep guessing either.
 */
export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  account: { freeFailures: 10, baseDelayMs: 1000, maxDelayMs: 60_000, forgetAfterMs: 30 * 60_000 },
  address: {
    freeFailures: 20,
    baseDelayMs: 1000,
    maxDelayMs: 15 * 60_000,
    forgetAfterMs: 60 * 60_000,
  },
  device: {
    freeFailures: 10,
    baseDelayMs: 1000,
    maxDelayMs: 15 * 60_000,
    forgetAfterMs: 60 * 60_000,
  },
};

interface Failures {
  count: number;
  /** Epoch ms of the latest failure. */
  last: number;
}

/** Failures per key with exponential backoff; bounded in size (oldest keys go first). */
class FailureWindow {
  readonly #entries = new Map<string, Failures>();
  constructor(
    readonly limits: ThrottleLimits,
    readonly maxKeys: number,
  ) {}

  /** Ms until `key` may try again (0: now). */
  waitMs(key: string, now: number): number {
    const entry = this.#live(key, now);
    if (!entry || entry.count < this.limits.freeFailures) return 0;
    const { baseDelayMs, maxDelayMs, freeFailures } = this.limits;
    const doublings = Math.min(entry.count - freeFailures, 40);
    const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** doublings);
    return Math.max(0, entry.last + delay - now);
  }

  fail(key: string, now: number): void {
    const entry = this.#live(key, now);
    this.#entries.delete(key); // re-inserted last: the map's order is oldest-failure first
    this.#entries.set(key, { count: (entry?.count ?? 0) + 1, last: now });
    if (this.#entries.size > this.maxKeys) this.#sweep();
  }

  /** Takes back one failure (an attempt counted in advance that turned out not to be one). */
  undo(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    if (entry.count <= 1) this.#entries.delete(key);
    else entry.count -= 1;
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  #live(key: string, now: number): Failures | undefined {
    const entry = this.#entries.get(key);
    if (entry && now - entry.last >= this.limits.forgetAfterMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drops the keys whose last failure is oldest (expired ones first) down to the bound. */
  #sweep(): void {
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.maxKeys) break;
      this.#entries.delete(key);
    }
  }
}

export interface SignInThrottleOptions {
  limits?: SignInLimits;
  /** Epoch ms; tests pass a clock they move by hand. */
  now?: () => number;
  /** Keys kept per kind before the oldest are dropped (memory bound under a spray). */
  maxKeys?: number;
}

/** Who attempts a sign-in: the account's email, the client address key, a known device. */
export interface SignInAttempt {
  email: string;
  /** clientAddressKey of the request. */
  address: string;
  /** The device a verified known-device cookie names for this account (auth/known-devices.ts). */
  device?: string | null;
}

/**
 * Limits failed password checks (sign-in, invites to existing accounts and the REST token
 * exchange share it). From a device the account does not know, failures count per account
 * and per client address; from a known device, per (account, device) only, so that failures
 * elsewhere never hold the owner's browser up. An attempt counts as a failure before the
 * password is checked, so parallel guesses cannot all slip through before the first one is
 * recorded; an attempt that does not fail on the password is taken back, and a success
 * clears the bucket it was limited under.
 */
export class SignInThrottle {
  readonly #account: FailureWindow;
  readonly #address: FailureWindow;
  readonly #device: FailureWindow;
  readonly #now: () => number;

  constructor(options: SignInThrottleOptions = {}) {
    const limits = options.limits ?? DEFAULT_SIGN_IN_LIMITS;
    const maxKeys = options.maxKeys ?? 100_000;
    this.#account = new FailureWindow(limits.account, maxKeys);
    this.#address = new FailureWindow(limits.address, maxKeys);
    this.#device = new FailureWindow(limits.device, maxKeys);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Runs `check` (a password check that throws AppError UNAUTHORIZED on a wrong password)
   * unless a bucket the attempt is limited under must wait; then it throws AppError
   * RATE_LIMITED with `retryAfterS`, without checking the password.
   */
  async attempt<T>(who: SignInAttempt, check: () => Promise<T>): Promise<T> {
    const account = who.email.trim().toLowerCase();
    const now = this.#now();
    const buckets: [FailureWindow, string, string][] = who.device
      ? [[this.#device, `${account}\n${who.device}`, 'from this browser']]
      : [
          [this.#address, who.address, 'from this address'],
          [this.#account, account, 'for this account from unknown devices'],
        ];
    let longest: { ms: number; from: string } = { ms: 0, from: '' };
    for (const [window, key, from] of buckets) {
      const ms = window.waitMs(key, now);
      if (ms > longest.ms) longest = { ms, from };
    }
    if (longest.ms > 0) {
      const seconds = Math.ceil(longest.ms / 1000);
      throw new AppError(
        'RATE_LIMITED',
        `too many failed sign-ins ${longest.from}; try again in ${seconds} second${seconds === 1 ? '' : 's'}`,
        { retryAfterS: seconds },
      );
    }
    for (const [window, key] of buckets) window.fail(key, now);
    try {
      const result = await check();
      // The account's failures (or the device's) are cleared; the address may have been
      // spraying other accounts, so only this attempt is taken back there.
      for (const [window, key] of buckets)
        if (window === this.#address) window.undo(key);
        else window.forget(key);
      return result;
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'UNAUTHORIZED'))
        for (const [window, key] of buckets) window.undo(key);
      throw err;
    }
  }
}

/**
 * The key a client address is limited under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6
 * by its /64 prefix, since one host usually holds a whole /64.
 */
export function clientAddressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]?.split('::') ?? [];
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
