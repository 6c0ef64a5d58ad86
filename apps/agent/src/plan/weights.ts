// Which weights a quality curve or a plan was measured on: the sha256 of model.safetensors
// (the engine's weightsSha256). Retraining into the same folder changes the images, so a curve
// or plan of the old weights must not be read as this model's.
import { MODEL_FILE } from '@anneal/engine';

export { weightsSha256 } from '@anneal/engine';

/** Why a file recorded for `recorded` weights does not describe `current`, or null when it does. */
export function weightsMismatch(
  what: string,
  recorded: string | undefined,
  current: string,
): string | null {
  if (recorded === current) return null;
  return recorded === undefined
    ? `${what} does not record which weights it was measured on (made before weights were recorded)`
    : `${what} was measured on other weights (${MODEL_FILE} sha256 ${recorded.slice(0, 12)}…, now ${current.slice(0, 12)}…)`;
}
