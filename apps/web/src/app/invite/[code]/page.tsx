'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useParams, useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { AuthCard } from '../../../ui/auth-card.tsx';
import { errorMessage } from '../../../ui/format.ts';
import { useTRPC } from '../../../ui/trpc.tsx';

export default function InvitePage() {
  const { code } = useParams<{ code: string }>();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const invite = useQuery(trpc.auth.getInvite.queryOptions({ code }));
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const accept = useMutation(
    trpc.auth.acceptInvite.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries();
        router.replace('/projects');
      },
    }),
  );
  if (invite.error)
    return (
      <AuthCard title="Invite not valid" sub={errorMessage(invite.error)}>
        <a href="/signin">Go to sign in</a>
      </AuthCard>
    );
  if (!invite.data)
    return (
      <AuthCard title="Loading invite…" sub="">
        {null}
      </AuthCard>
    );
  function submit(e: FormEvent) {
    e.preventDefault();
    accept.mutate({ code, password, name: name || undefined });
  }
  return (
    <AuthCard
      title={`Join ${invite.data.orgName}`}
      sub={
        <>
          You were invited as <b>{invite.data.role}</b> with <b>{invite.data.email}</b>.
          {invite.data.hasAccount
            ? ' Enter your password to accept.'
            : ' Choose a password to create your account.'}
        </>
      }
    >
      <form className="form" onSubmit={submit}>
        {!invite.data.hasAccount && (
          <label className="field">
            Name
            <input
              name="name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              autoComplete="name"
            />
          </label>
        )}
        <label className="field">
          Password
          <input
            name="password"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            minLength={8}
            required
          />
        </label>
        {accept.error && <div className="error">{errorMessage(accept.error)}</div>}
        <button className="btn btn-primary" type="submit" disabled={accept.isPending}>
          Accept invite
        </button>
      </form>
    </AuthCard>
  );
}
