import type { JobSpecInput, JobType } from '@anneal/protocol';
import type { ReactNode } from 'react';

/** A kind's fields as the form holds them: input values by name. */
export type FieldValues = Record<string, string>;

/** What a kind's fields get from the New job form. */
export interface FieldsProps {
  projectId: string;
  values: FieldValues;
  /** Sets some fields at once. */
  update(patch: FieldValues): void;
  /** A labelled text input bound to field `name`. */
  text(name: string, label: string): ReactNode;
  /**
   * A labelled select bound to field `name`; `onPick` turns a choice into the fields it sets
   * (default: just `name`), for a choice that changes other fields too.
   */
  select(
    name: string,
    label: string,
    options: readonly (string | [string, string])[],
    onPick?: (value: string) => FieldValues,
  ): ReactNode;
}

/** The dashboard's part of a job kind: its fields in the New job form and the spec they make. */
export interface FormKind<T extends JobType> {
  /** The fields' first values: small enough to finish in minutes on any Mac. */
  initial: FieldValues;
  Fields(props: FieldsProps): ReactNode;
  /** The spec the fields describe; the form checks it with the job schema. */
  toSpec(values: FieldValues): Extract<JobSpecInput, { type: T }>['spec'];
}

/** The form part of every kind, keyed by type so a kind without one is a type error. */
export type FormKinds = { [T in JobType]: FormKind<T> };
