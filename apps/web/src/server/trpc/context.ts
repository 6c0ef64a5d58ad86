import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/principal.ts';
import type { Services } from '../services.ts';

export interface TrpcContext extends Services {
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal | null;
}
