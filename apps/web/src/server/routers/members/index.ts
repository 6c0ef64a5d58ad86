import { router } from '../../trpc/init.ts';
import { changeRole, removeMember } from './change-role.ts';
import { inviteMember } from './invite-member.ts';
import { listMembers } from './list-members.ts';

export const membersRouter = router({
  list: listMembers,
  invite: inviteMember,
  changeRole,
  remove: removeMember,
});
