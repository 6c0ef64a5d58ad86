'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter, useSearchParams } from 'next/navigation';
import { type FormEvent, Suspense, useEffect, useState } from 'react';
import { AuthCard } from '../../ui/auth-card.tsx';
import { errorMessage } from '../../ui/format.ts';
import { useTRPC } from '../../ui/trpc.tsx';

function SignIn() {
  const trpc = useTRPC();
  const router = useRouter();
  const params = useSearchParams();
  const next = params.get('next')?.startsWith('/') ? (params.get('next') as string) : '/projects';
  const queryClient = useQueryClient();
  const status = useQuery(trpc.auth.getStatus.queryOptions());
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useMutation(
    trpc.auth.signIn.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries();
        router.replace(next);
      },
    }),
  );
  useEffect(() => {
    if (status.data?.needsSetup) router.replace('/setup');
    else if (status.data?.user) router.replace(next);
  }, [status.data, router, next]);

  function submit(e: FormEvent) {
    e.preventDefault();
    signIn.mutate({ email, password });
  }
  return (
    <AuthCard title="Sign in" sub="to your team's experiments, datasets and models.">
      <form className="form" onSubmit={submit}>
        <label className="field">
          Email
          <input
            name="email"
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoComplete="email"
            required
          />
        </label>
        <label className="field">
          Password
          <input
            name="password"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
            required
          />
        </label>
        {signIn.error && <div className="error">{errorMessage(signIn.error)}</div>}
        <button className="btn btn-primary" type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </AuthCard>
  );
}

export default function SignInPage() {
  return (
    <Suspense>
      <SignIn />
    </Suspense>
  );
}
