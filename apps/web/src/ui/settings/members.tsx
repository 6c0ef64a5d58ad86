'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../format.ts';
import { useMe } from '../shell.tsx';
import { useTRPC } from '../trpc.tsx';

type Role = 'owner' | 'editor' | 'viewer';

export function MembersCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { isOwner, user } = useMe();
  const members = useQuery(trpc.members.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.members.list.queryKey() });
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [link, setLink] = useState<string | null>(null);
  const invite = useMutation(
    trpc.members.invite.mutationOptions({
      onSuccess: (res) => {
        setLink(`${window.location.origin}/invite/${res.code}`);
        setEmail('');
        void refresh();
      },
    }),
  );
  const change = useMutation(trpc.members.changeRole.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.members.remove.mutationOptions({ onSuccess: refresh }));
  function submit(e: FormEvent) {
    e.preventDefault();
    invite.mutate({ email, role });
  }
  return (
    <div className="card">
      <div className="card-head">
        <h2>Members</h2>
        <span className="muted small">
          Owners manage members; editors create and change; viewers read.
        </span>
      </div>
      {isOwner && (
        <form className="toolbar" onSubmit={submit}>
          <input
            name="inviteEmail"
            type="email"
            placeholder="teammate@example.com"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
            style={{ width: 260 }}
            aria-label="Invite email"
          />
          <select
            name="inviteRole"
            value={role}
            onChange={(e) => setRole(e.target.value as Role)}
            aria-label="Invite role"
          >
            <option value="viewer">viewer</option>
            <option value="editor">editor</option>
            <option value="owner">owner</option>
          </select>
          <button className="btn btn-primary btn-sm" type="submit" disabled={invite.isPending}>
            Create invite link
          </button>
          {invite.error && <span className="error">{errorMessage(invite.error)}</span>}
        </form>
      )}
      {link && (
        <div className="card-pad" style={{ borderBottom: '1px solid var(--border)' }}>
          <div className="notice" style={{ marginBottom: 8 }}>
            Send this link to your teammate. It works once, for 7 days, and is not shown again.
          </div>
          <div className="secret" data-testid="invite-link">
            {link}
          </div>
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th>Member</th>
            <th>Role</th>
            <th>Since</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {members.data?.members.map((m) => (
            <tr key={m.userId}>
              <td>
                {m.name ? `${m.name} · ` : ''}
                {m.email}
              </td>
              <td>
                {isOwner && m.userId !== user?.id ? (
                  <select
                    value={m.role}
                    onChange={(e) =>
                      change.mutate({ userId: m.userId, role: e.target.value as Role })
                    }
                    aria-label={`role of ${m.email}`}
                  >
                    <option value="viewer">viewer</option>
                    <option value="editor">editor</option>
                    <option value="owner">owner</option>
                  </select>
                ) : (
                  <span className="tag">{m.role}</span>
                )}
              </td>
              <td className="muted">{when(m.since)}</td>
              <td className="num">
                {isOwner && m.userId !== user?.id && (
                  <button
                    className="btn btn-sm btn-danger"
                    type="button"
                    onClick={() => remove.mutate({ userId: m.userId })}
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
          {members.data?.invites.map((i) => (
            <tr key={i.id}>
              <td className="muted">{i.email}</td>
              <td>
                <span className="tag">{i.role}</span>
              </td>
              <td className="muted">invited, expires {when(i.expiresAt)}</td>
              <td />
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
