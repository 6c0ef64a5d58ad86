import type { ReactNode } from 'react';

export function AuthCard({
  title,
  sub,
  children,
}: {
  title: string;
  sub: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className="auth">
      <div className="card auth-card">
        <div className="brand">
          <span className="brand-mark">◈</span> Anneal
        </div>
        <h1>{title}</h1>
        <div className="sub">{sub}</div>
        {children}
      </div>
    </div>
  );
}
