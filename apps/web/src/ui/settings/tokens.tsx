'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { errorMessage, when } from '../format.ts';
import { Icon } from '../icons.tsx';
import { useMe } from '../shell.tsx';
import { useTRPC } from '../trpc.tsx';

export function TokensCard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit, isOwner } = useMe();
  const tokens = useQuery(trpc.tokens.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.tokens.list.queryKey() });
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'api' | 'agent'>('api');
  const [created, setCreated] = useState<string | null>(null);
  const onCreated = (t: { token: string }) => {
    setCreated(t.token);
    setName('');
    void refresh();
  };
  const createApi = useMutation(trpc.tokens.createApi.mutationOptions({ onSuccess: onCreated }));
  const createAgent = useMutation(
    trpc.tokens.createAgent.mutationOptions({ onSuccess: onCreated }),
  );
  const revoke = useMutation(trpc.tokens.revoke.mutationOptions({ onSuccess: refresh }));
  const error = createApi.error ?? createAgent.error ?? revoke.error;
  function submit(e: FormEvent) {
    e.preventDefault();
    (kind === 'api' ? createApi : createAgent).mutate({ name });
  }
  return (
    <div className="card">
      <div className="card-head">
        <h2>Tokens</h2>
        <span className="muted small">
          API tokens for scripts and CI; agent tokens enrol machines (agents). Stored hashed; shown
          once.
        </span>
      </div>
      {canEdit ? (
        <form className="toolbar" onSubmit={submit}>
          <input
            name="tokenName"
            placeholder="Token name, e.g. airflow"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            style={{ width: 260 }}
            aria-label="Token name"
          />
          <select
            name="tokenKind"
            value={kind}
            onChange={(e) => setKind(e.target.value as 'api' | 'agent')}
            aria-label="Token kind"
          >
            <option value="api">API token</option>
            {isOwner && <option value="agent">Agent token</option>}
          </select>
          <button className="btn btn-primary btn-sm" type="submit">
            <Icon name="key" /> Create token
          </button>
          {error && <span className="error">{errorMessage(error)}</span>}
        </form>
      ) : (
        <div className="toolbar muted small">
          Viewers cannot create tokens; ask an editor or owner.
        </div>
      )}
      {created && (
        <div className="card-pad" style={{ borderBottom: '1px solid var(--border)' }}>
          <div className="notice" style={{ marginBottom: 8 }}>
            Copy this token now; it is not shown again. Use it as{' '}
            <code>Authorization: Bearer &lt;token&gt;</code>.
          </div>
          <div className="secret" data-testid="new-token">
            {created}
          </div>
        </div>
      )}
      {tokens.data && tokens.data.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Token</th>
              <th>Created</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>
                  <span className="tag">{t.kind}</span>
                </td>
                <td className="mono faint">{t.prefix}…</td>
                <td className="muted">{when(t.createdAt)}</td>
                <td className="muted">{t.revokedAt ? 'revoked' : when(t.lastUsedAt)}</td>
                <td className="num">
                  {!t.revokedAt && (
                    <button
                      className="btn btn-sm btn-danger"
                      type="button"
                      onClick={() => revoke.mutate({ tokenId: t.id })}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="card-pad muted">No tokens yet.</div>
      )}
    </div>
  );
}
