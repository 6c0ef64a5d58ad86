import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import type { Role } from '@anneal/db/schema';
import { z } from 'zod';
import {
  agentMayReadDatasetVersion,
  agentMayReadModelVersion,
  agentMayReadRun,
  agentMayWriteRun,
  agentServesDeployment,
} from '../domain/jobs/agent-reach.ts';
import type { Principal } from './principal.ts';

/**
 * What an agent token may do with an operation. Agent tokens act for machines that run
 * leased jobs, so beyond `none` each grant opens exactly one resource named in the input
 * (the field in GRANTS), and only while a job leased to the token's agent needs it.
 */
export type AgentGrant =
  /** Refused: the operation belongs to people and API tokens. */
  | 'none'
  /** Writes to the run of a job leased to the token's agent (metrics, logs, artifacts). */
  | 'write-leased-run'
  /** Reads a run a leased job needs: its own (resume) or the one its checkpoint comes from. */
  | 'read-leased-run'
  /** Reads the model version a leased sample or evaluate job takes its checkpoint from. */
  | 'read-leased-model-version'
  /** Reads a dataset version a leased job trains on, or its checkpoint was trained on. */
  | 'read-leased-dataset-version'
  /** Writes generated images to a deployment with a live replica on the token's agent. */
  | 'write-served-deployment';

/**
 * Every tRPC procedure and REST route declares one: `public` needs nobody; otherwise the
 * least role of a session or API token (viewer < editor < owner) and what an agent token
 * may do there. There is no default: the type makes the agent grant a decision.
 */
export type Access = 'public' | { role: Role; agent: AgentGrant };

const RANK: Record<Role, number> = { viewer: 0, editor: 1, owner: 2 };

const uuid = z.uuid();

const GRANTS: Record<
  Exclude<AgentGrant, 'none'>,
  {
    field: 'runId' | 'versionId' | 'deploymentId';
    allowed(db: Db, tokenId: string, id: string): Promise<boolean>;
    refusal(id: string): string;
  }
> = {
  'write-leased-run': {
    field: 'runId',
    allowed: agentMayWriteRun,
    refusal: () => 'runId: an agent token writes only to runs of jobs leased to its agent',
  },
  'read-leased-run': {
    field: 'runId',
    allowed: agentMayReadRun,
    refusal: (id) =>
      `runId: an agent token reads run ${id} only while a job leased to its agent runs in it or reads its checkpoint`,
  },
  'read-leased-model-version': {
    field: 'versionId',
    allowed: agentMayReadModelVersion,
    refusal: (id) =>
      `versionId: an agent token reads model version ${id} only while a job leased to its agent reads its checkpoint, or a replica on its agent serves it`,
  },
  'read-leased-dataset-version': {
    field: 'versionId',
    allowed: agentMayReadDatasetVersion,
    refusal: (id) =>
      `versionId: an agent token reads dataset version ${id} only while a job leased to its agent uses it`,
  },
  'write-served-deployment': {
    field: 'deploymentId',
    allowed: agentServesDeployment,
    refusal: (id) =>
      `deploymentId: an agent token writes to deployment ${id} only while its agent hosts a replica of it`,
  },
};

/**
 * The first half of the one authorization layer, before any input is read: who is calling
 * (401 without a credential), whether the role suffices, and whether an agent token may
 * come here at all. `authorizeAgent` finishes once the ids in the input are parsed.
 */
export function authorize(
  principal: Principal | null,
  access: Exclude<Access, 'public'>,
): Principal;
export function authorize(principal: Principal | null, access: Access): Principal | null;
export function authorize(principal: Principal | null, access: Access): Principal | null {
  if (access === 'public') return principal;
  if (!principal) throw new AppError('UNAUTHORIZED', 'sign in or send an API token');
  // Agent tokens act for machines: whoever enrolled them, they never manage the organization.
  const role: Role =
    principal.via === 'agent' && principal.role === 'owner' ? 'editor' : principal.role;
  if (RANK[role] < RANK[access.role])
    throw new AppError('FORBIDDEN', `this needs the ${access.role} role; you are ${role}`);
  if (principal.via === 'agent' && access.agent === 'none')
    throw new AppError(
      'FORBIDDEN',
      'an agent token only runs the jobs leased to its agent; this needs a signed-in person or an API token',
    );
  return principal;
}

/**
 * The second half, for agent tokens on operations that grant them a leased resource: the id
 * the grant names must belong to a job now leased to the token's agent. Other callers pass.
 * Refused ids answer 403 whether or not they exist, so the answer says nothing about them.
 */
export async function authorizeAgent(
  db: Db,
  principal: Principal | null,
  access: Access,
  input: unknown,
): Promise<void> {
  if (principal?.via !== 'agent' || access === 'public' || access.agent === 'none') return;
  const grant = GRANTS[access.agent];
  const raw = (input as Record<string, unknown> | null | undefined)?.[grant.field];
  const id = uuid.safeParse(raw);
  if (!id.success) throw new AppError('BAD_REQUEST', `${grant.field}: expected a uuid`);
  if (!(await grant.allowed(db, principal.credentialId, id.data)))
    throw new AppError('FORBIDDEN', grant.refusal(id.data));
}
