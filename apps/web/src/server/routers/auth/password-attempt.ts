import { clientAddressKey } from '../../domain/accounts/sign-in-throttle.ts';
import { clientAddress } from '../../http/client-address.ts';
import { DEVICE_COOKIE, readCookie, setDeviceCookie } from '../../http/cookies.ts';
import type { TrpcContext } from '../../trpc/context.ts';

/**
 * Runs a check of `email`'s password from the browser under the sign-in limits: a known
 * device of the account is limited by its own failures only, any other browser per account
 * and per address. After a success the browser is (and stays) a known device of the account.
 */
export async function attemptPassword<T extends { userId: string }>(
  ctx: TrpcContext,
  email: string,
  check: () => Promise<T>,
): Promise<T> {
  const cookie = readCookie(ctx.req, DEVICE_COOKIE);
  const device = await ctx.devices.deviceOf(ctx.db, cookie, email);
  const address = clientAddressKey(clientAddress(ctx.req, ctx.config.trustedProxies));
  const result = await ctx.signIns.attempt({ email, address, device }, check);
  // A known device's cookie is sent again to renew its lifetime.
  setDeviceCookie(ctx.req, ctx.res, device && cookie ? cookie : ctx.devices.issue(result.userId));
  return result;
}
