'use client';

import type { ReactNode } from 'react';
import { Shell } from '../../ui/shell.tsx';

export default function AppLayout({ children }: { children: ReactNode }) {
  return <Shell>{children}</Shell>;
}
