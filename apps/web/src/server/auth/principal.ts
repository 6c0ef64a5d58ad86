import type { Role } from '@anneal/db/schema';

/** Who is calling, in which organization, with which role; resolved once per request. */
export interface Principal {
  userId: string;
  email: string;
  orgId: string;
  role: Role;
  via: 'session' | 'api' | 'agent';
  /** The session or token row that authenticated the call. */
  credentialId: string;
}
