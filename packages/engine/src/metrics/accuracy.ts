/**
 * Conditional accuracy: the fraction of rows whose argmax logit is the requested class.
 * For a class-conditional model, `logits` are the extractor's on its samples and `labels`
 * the classes the samples were drawn for.
 */
export function classAccuracy(
  logits: ArrayLike<number>,
  classes: number,
  labels: ArrayLike<number>,
): number {
  const n = labels.length;
  if (n === 0) throw new RangeError('accuracy of zero samples');
  if (logits.length !== n * classes)
    throw new RangeError(`${logits.length} logits are not ${n} rows of ${classes} classes`);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((logits[i * classes + c] as number) > (logits[i * classes + best] as number)) best = c;
    if (best === labels[i]) hits++;
  }
  return hits / n;
}
