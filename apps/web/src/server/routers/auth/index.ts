import { router } from '../../trpc/init.ts';
import { acceptInvite, getInvite } from './accept-invite.ts';
import { createOwner } from './create-owner.ts';
import { getStatus } from './get-status.ts';
import { signIn } from './sign-in.ts';
import { signOut } from './sign-out.ts';

export const authRouter = router({
  getStatus,
  createOwner,
  signIn,
  signOut,
  getInvite,
  acceptInvite,
});
