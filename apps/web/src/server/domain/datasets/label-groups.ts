/**
 * A dataset version's files grouped by label for its page: counts in the training and
 * held-out splits, and the first few files of each label to show as thumbnails. PostgreSQL
 * counts and picks the files (getDatasetVersionPage); this puts its rows in page order.
 */

/** What PostgreSQL reports of one label in one split: its count and its first files. */
export interface LabelSplitRow {
  /** The class index, or null for files without a label. */
  label: number | null;
  heldOut: boolean;
  count: number;
  /** The split's first files of this label, in manifest order. */
  samples: { relpath: string; sha256: string }[];
}

export interface LabelGroup {
  /** The class name, or "unlabelled" for files without a label. */
  label: string;
  train: number;
  heldOut: number;
  /** Up to `perLabel` files of the training split first, then held-out ones. */
  samples: { relpath: string; sha256: string; heldOut: boolean }[];
}

/** Groups in class order, unlabelled files last; labels without files are left out. */
export function labelGroupsOf(
  classes: string[],
  rows: LabelSplitRow[],
  perLabel: number,
): LabelGroup[] {
  const keys = [...new Set(rows.map((r) => r.label ?? -1))].sort((a, b) =>
    a < 0 ? 1 : b < 0 ? -1 : a - b,
  );
  return keys.flatMap((key) => {
    const of = (held: boolean) => rows.find((r) => (r.label ?? -1) === key && r.heldOut === held);
    const train = of(false);
    const held = of(true);
    const total = (train?.count ?? 0) + (held?.count ?? 0);
    if (total === 0) return [];
    return [
      {
        label: key < 0 ? 'unlabelled' : (classes[key] ?? `class ${key}`),
        train: train?.count ?? 0,
        heldOut: held?.count ?? 0,
        samples: [
          ...(train?.samples ?? []).map((s) => ({ ...s, heldOut: false })),
          ...(held?.samples ?? []).map((s) => ({ ...s, heldOut: true })),
        ].slice(0, perLabel),
      },
    ];
  });
}
