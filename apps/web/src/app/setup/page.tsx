'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useEffect, useState } from 'react';
import { AuthCard } from '../../ui/auth-card.tsx';
import { errorMessage } from '../../ui/format.ts';
import { useTRPC } from '../../ui/trpc.tsx';

/** First run: the first visitor creates the owner account and the organization. */
export default function SetupPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.auth.getStatus.queryOptions());
  const [form, setForm] = useState({ orgName: '', email: '', password: '' });
  const create = useMutation(
    trpc.auth.createOwner.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries();
        router.replace('/projects');
      },
    }),
  );
  useEffect(() => {
    if (status.data && !status.data.needsSetup)
      router.replace(status.data.user ? '/projects' : '/signin');
  }, [status.data, router]);

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(form);
  }
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) =>
    setForm({ ...form, [k]: e.target.value });
  return (
    <AuthCard
      title="Welcome to Anneal"
      sub="Create the owner account for this server. You can invite your team next."
    >
      <form className="form" onSubmit={submit}>
        <label className="field">
          Organization
          <input
            name="orgName"
            value={form.orgName}
            onChange={set('orgName')}
            placeholder="Acme Research"
            required
          />
        </label>
        <label className="field">
          Email
          <input
            name="email"
            type="email"
            value={form.email}
            onChange={set('email')}
            autoComplete="email"
            required
          />
        </label>
        <label className="field">
          Password
          <input
            name="password"
            type="password"
            value={form.password}
            onChange={set('password')}
            autoComplete="new-password"
            minLength={8}
            required
          />
        </label>
        {create.error && <div className="error">{errorMessage(create.error)}</div>}
        <button className="btn btn-primary" type="submit" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create owner account'}
        </button>
      </form>
    </AuthCard>
  );
}
