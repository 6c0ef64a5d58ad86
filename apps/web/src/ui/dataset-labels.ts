/**
 * A dataset version's files grouped by label for its page: counts in the training and
 * held-out splits, and the first few files of each label to show as thumbnails.
 */
export interface ManifestLike {
  files: { relpath: string; sha256: string; label?: number }[];
  classes: string[];
  heldOut: string[];
}

export interface LabelGroup {
  /** The class name, or "unlabelled" for files without a label. */
  label: string;
  train: number;
  heldOut: number;
  /** Up to `perLabel` files of the training split first, then held-out ones. */
  samples: { relpath: string; sha256: string; heldOut: boolean }[];
}

export function labelGroups(manifest: ManifestLike, perLabel = 8): LabelGroup[] {
  const heldOut = new Set(manifest.heldOut);
  const groups = new Map<number, LabelGroup & { held: LabelGroup['samples'] }>();
  const order = manifest.classes.map((_, i) => i);
  const of = (label: number | undefined) => {
    const key = label ?? -1;
    let g = groups.get(key);
    if (!g) {
      g = {
        label: label === undefined ? 'unlabelled' : (manifest.classes[label] ?? `class ${label}`),
        train: 0,
        heldOut: 0,
        samples: [],
        held: [],
      };
      groups.set(key, g);
    }
    return g;
  };
  for (const i of order) of(i);
  for (const f of manifest.files) {
    const g = of(f.label);
    const isHeld = heldOut.has(f.relpath);
    if (isHeld) {
      g.heldOut++;
      if (g.held.length < perLabel)
        g.held.push({ relpath: f.relpath, sha256: f.sha256, heldOut: true });
    } else {
      g.train++;
      if (g.samples.length < perLabel)
        g.samples.push({ relpath: f.relpath, sha256: f.sha256, heldOut: false });
    }
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < 0 ? 1 : b < 0 ? -1 : a - b))
    .filter(([, g]) => g.train + g.heldOut > 0)
    .map(([, { held, ...g }]) => ({
      ...g,
      samples: [...g.samples, ...held].slice(0, perLabel),
    }));
}
