import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { Providers } from '../ui/trpc.tsx';
import './globals.css';

export const metadata: Metadata = {
  title: 'Anneal',
  description: 'Train and evaluate diffusion models on Apple Silicon.',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
