'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { type ReactNode, useEffect } from 'react';
import { Icon } from './icons.tsx';
import { useTRPC } from './trpc.tsx';

/** The signed-in user, or undefined while loading. */
export function useMe() {
  const trpc = useTRPC();
  const status = useQuery(trpc.auth.getStatus.queryOptions());
  const user = status.data?.user ?? null;
  return {
    status,
    user,
    canEdit: user?.role === 'owner' || user?.role === 'editor',
    isOwner: user?.role === 'owner',
  };
}

const NAV = [
  { href: '/projects', label: 'Projects', icon: 'folder' as const },
  { href: '/agents', label: 'Agents', icon: 'cpu' as const },
  { href: '/settings', label: 'Settings', icon: 'settings' as const },
];

/** Sidebar layout for signed-in pages; sends visitors to first-run setup or sign-in. */
export function Shell({ children }: { children: ReactNode }) {
  const { status, user } = useMe();
  const router = useRouter();
  const pathname = usePathname();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const signOut = useMutation(
    trpc.auth.signOut.mutationOptions({
      onSuccess: () => {
        queryClient.clear();
        router.replace('/signin');
      },
    }),
  );

  useEffect(() => {
    if (!status.data) return;
    if (status.data.needsSetup) router.replace('/setup');
    else if (!status.data.user) router.replace(`/signin?next=${encodeURIComponent(pathname)}`);
  }, [status.data, router, pathname]);

  if (!user)
    return (
      <div className="auth">
        <span className="muted">Loading…</span>
      </div>
    );
  return (
    <div className="shell">
      <aside className="side">
        <Link href="/projects" className="brand" style={{ textDecoration: 'none' }}>
          <span className="brand-mark">◈</span> Anneal
        </Link>
        <div className="nav-label">Workspace</div>
        {NAV.map((item) => (
          <Link
            key={item.href}
            href={item.href}
            className={`nav-link${pathname.startsWith(item.href) ? ' active' : ''}`}
          >
            <Icon name={item.icon} /> {item.label}
          </Link>
        ))}
        <div className="side-foot">
          <div className="who" title={user.email}>
            {user.email}
          </div>
          <div className="org">
            {user.orgName} · {user.role}
          </div>
          <button type="button" className="link-button" onClick={() => signOut.mutate()}>
            Sign out
          </button>
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}

export function PageHead({
  title,
  sub,
  crumbs,
  actions,
}: {
  title: ReactNode;
  sub?: ReactNode;
  crumbs?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className="page-head">
      <div>
        {crumbs && <div className="crumbs">{crumbs}</div>}
        <h1>{title}</h1>
        {sub && <div className="sub">{sub}</div>}
      </div>
      {actions && <div className="row">{actions}</div>}
    </div>
  );
}

export function Empty({
  icon,
  title,
  children,
}: {
  icon: Parameters<typeof Icon>[0]['name'];
  title: string;
  children: ReactNode;
}) {
  return (
    <div className="empty">
      <div className="empty-icon">
        <Icon name={icon} size={20} />
      </div>
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${status}`}>{status}</span>;
}
