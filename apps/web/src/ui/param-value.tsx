'use client';

import Link from 'next/link';
import { type ParamContext, paramDisplay } from './params.ts';

/** A run param as people read it: a dataset by name with a link to its version, not JSON. */
export function ParamValue({ value, ctx }: { value: unknown; ctx: ParamContext }) {
  const d = paramDisplay(value, ctx);
  return d.href ? <Link href={d.href}>{d.text}</Link> : d.text;
}
