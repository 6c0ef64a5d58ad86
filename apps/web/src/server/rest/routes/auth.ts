import { z } from 'zod';
import { emailSchema } from '../../domain/accounts/email.ts';
import { checkPassword } from '../../domain/accounts/sessions.ts';
import { clientAddressKey } from '../../domain/accounts/sign-in-throttle.ts';
import { createToken } from '../../domain/accounts/tokens.ts';
import { clientAddress } from '../../http/client-address.ts';
import { defineRoute } from '../route.ts';

export const authRoutes = [
  defineRoute({
    method: 'POST',
    path: '/auth/tokens',
    access: 'public',
    tag: 'auth',
    summary:
      'Exchange an email and password for a new API token (`anneal login`); the token is shown once and stored hashed. Failed attempts are limited per account and per client address: past the limit the answer is 429 with Retry-After',
    body: z.object({
      email: emailSchema,
      password: z
        .string()
        .min(1, { message: 'is required' })
        .max(200, { message: 'must be at most 200 characters' }),
      name: z.string().trim().min(1).max(200).default('anneal login'),
    }),
    response: {
      status: 201,
      description: 'The new token',
      schema: z.object({ id: z.uuid(), name: z.string(), prefix: z.string(), token: z.string() }),
    },
    handle: async (ctx, { body }) => {
      const who = {
        email: body.email,
        address: clientAddressKey(clientAddress(ctx.req, ctx.config.trustedProxies)),
      };
      const owner = await ctx.signIns.attempt(who, () =>
        checkPassword(ctx.db, body.email, body.password),
      );
      const t = await createToken(ctx.db, owner, 'api', body.name);
      return { status: 201, json: { id: t.id, name: t.name, prefix: t.prefix, token: t.token } };
    },
  }),
];
