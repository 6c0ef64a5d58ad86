import { AppError } from '@anneal/core';
import type { Role } from '@anneal/db/schema';
import type { Principal } from './principal.ts';

/** The least a caller needs: `public` needs nobody; roles are ordered viewer < editor < owner. */
export type Access = 'public' | Role;

const RANK: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

/**
 * The one place roles are enforced: every tRPC procedure and every REST route declares its
 * access and goes through here before its handler runs.
 */
export function authorize(principal: Principal | null, access: Role): Principal;
export function authorize(principal: Principal | null, access: Access): Principal | null;
export function authorize(principal: Principal | null, access: Access): Principal | null {
  if (access === 'public') return principal;
  if (!principal) throw new AppError('UNAUTHORIZED', 'sign in or send an API token');
  // Agent tokens act for machines: they may write runs but never manage the organization.
  const role: Role =
    principal.via === 'agent' && principal.role === 'owner' ? 'editor' : principal.role;
  if (RANK[role] < RANK[access])
    throw new AppError('FORBIDDEN', `this needs the ${access} role; you are ${role}`);
  return principal;
}
