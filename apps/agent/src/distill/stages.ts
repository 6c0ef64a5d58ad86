// The decisions of `anneal distill` (issue 12, section 3), as pure functions of recorded
// numbers: which sigma grid each progressive stage distills, whether a finished stage met the
// quality budget and whether to go on, and which student to keep.

/** One progressive halving: the student learns one step for the teacher's two. */
export interface HalvingStage {
  /** 1-based. */
  stage: number;
  teacherSteps: number;
  studentSteps: number;
  /** The teacher's grid, 2 * studentSteps + 1 sigmas ending in 0. */
  teacherSigmas: number[];
  /** Every second sigma of the teacher's grid: what the student samples with. */
  studentSigmas: number[];
}

function checkGrid(sigmas: readonly number[], what: string): number {
  const steps = sigmas.length - 1;
  if (steps < 1) throw new RangeError(`${what}: needs at least 2 sigmas (got ${sigmas.length})`);
  if (sigmas.at(-1) !== 0) throw new RangeError(`${what}: must end in sigma 0`);
  for (let i = 1; i < sigmas.length; i++)
    if (!((sigmas[i] as number) < (sigmas[i - 1] as number)))
      throw new RangeError(`${what}: sigmas must strictly decrease (index ${i})`);
  return steps;
}

/** Every `(base steps / steps)`-th sigma of `base`: the `steps`-step grid inside it, ending in 0. */
export function subsampleGrid(base: readonly number[], steps: number): number[] {
  const baseSteps = checkGrid(base, 'base grid');
  if (!Number.isInteger(steps) || steps < 1 || baseSteps % steps !== 0)
    throw new RangeError(`cannot take ${steps} steps out of a ${baseSteps}-step grid evenly`);
  const stride = baseSteps / steps;
  return Array.from({ length: steps + 1 }, (_, i) => base[i * stride] as number);
}

/**
 * The halvings from the base grid (the teacher's 32-step DDIM sigmas) down to `minSteps`:
 * 32 -> 16 -> ... Every grid is a subset of the base, so each stage's teacher (the previous
 * student) runs exactly the grid it was distilled for.
 */
export function halvingStages(base: readonly number[], minSteps: number): HalvingStage[] {
  const baseSteps = checkGrid(base, 'base grid');
  if (!Number.isInteger(Math.log2(baseSteps)))
    throw new RangeError(`base grid: ${baseSteps} steps is not a power of two`);
  if (!Number.isInteger(minSteps) || minSteps < 1 || minSteps >= baseSteps)
    throw new RangeError(`min steps must be an integer in 1..${baseSteps - 1} (got ${minSteps})`);
  const stages: HalvingStage[] = [];
  for (let teacher = baseSteps; teacher / 2 >= minSteps; teacher /= 2) {
    stages.push({
      stage: stages.length + 1,
      teacherSteps: teacher,
      studentSteps: teacher / 2,
      teacherSigmas: subsampleGrid(base, teacher),
      studentSigmas: subsampleGrid(base, teacher / 2),
    });
  }
  return stages;
}

export interface StageResult {
  stage: number;
  fromSteps: number;
  toSteps: number;
  fd: number;
}

export interface BudgetRule {
  referenceFd: number;
  /** The student's FD may be at most budget x the reference FD. */
  budget: number;
  minSteps: number;
}

export interface StageDecision {
  metBudget: boolean;
  /** FD / reference FD. */
  ratio: number;
  /** Go on to the next halving. */
  proceed: boolean;
  reason: string;
}

const stepWord = (n: number) => (n === 1 ? 'step' : 'steps');
const ratioText = (r: number) => (Number.isFinite(r) ? `${r.toFixed(r < 10 ? 2 : 1)}x` : `${r}`);

export function stageLabel(r: Pick<StageResult, 'stage' | 'fromSteps' | 'toSteps'>): string {
  return `stage ${r.stage} (${r.fromSteps} -> ${r.toSteps} ${stepWord(r.toSteps)})`;
}

/**
 * Whether a finished stage met the budget (FD <= budget x reference FD; a NaN FD never does)
 * and whether to distill further: only while it met the budget and more halvings are above
 * --min-steps.
 */
export function decideStage(result: StageResult, rule: BudgetRule): StageDecision {
  if (!(rule.referenceFd > 0))
    throw new RangeError(`reference FD must be > 0 (got ${rule.referenceFd})`);
  const ratio = result.fd / rule.referenceFd;
  const metBudget = ratio <= rule.budget;
  const label = stageLabel(result);
  const budget = `${rule.budget}x`;
  if (!metBudget)
    return {
      metBudget,
      ratio,
      proceed: false,
      reason: `${label}: FD ${ratioText(ratio)} reference > ${budget}`,
    };
  if (result.toSteps / 2 < rule.minSteps)
    return {
      metBudget,
      ratio,
      proceed: false,
      reason: `${label}: FD ${ratioText(ratio)} reference <= ${budget}; reached --min-steps ${rule.minSteps}`,
    };
  return {
    metBudget,
    ratio,
    proceed: true,
    reason: `${label}: FD ${ratioText(ratio)} reference <= ${budget}; continuing`,
  };
}

/** The last stage whose student met the budget (the one to keep), or undefined when none did. */
export function keptStage<T extends { decision: Pick<StageDecision, 'metBudget'> }>(
  stages: readonly T[],
): T | undefined {
  for (let i = stages.length - 1; i >= 0; i--)
    if ((stages[i] as T).decision.metBudget) return stages[i];
  return undefined;
}
