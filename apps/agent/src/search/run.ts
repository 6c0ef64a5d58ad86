// A hardware-aware U-Net search, phase by phase (issue 19): count every candidate's work,
// then measure on this device and pool (measuring.ts), then successive halving on the quality
// proxy, the winners' full training and the correlation's (training.ts). The state is written
// after every candidate, so any phase resumes where it stopped.
import { type HardwareProfile, Model } from '@anneal/engine';
import type { LocalDataset } from '../dataset.ts';
import { correlationPicks, spreadStale } from './correlation.ts';
import { costFeatures, type MeasuredCost, type MeasureOptions } from './cost.ts';
import { measuringPhase } from './measuring.ts';
import { studentConfig } from './proxy.ts';
import { candidateName, enumerateCandidates } from './space.ts';
import {
  type CandidateState,
  type SearchSettings,
  type SearchState,
  writeSearchState,
} from './state.ts';
import { trainingPhases } from './training.ts';

export interface SearchProgress {
  /** A phase's progress: `done` of `total` (candidates, or a rung's iterations). */
  update(phase: string, done: number, total: number): void;
  /** One line worth keeping in the log (a measured candidate, a rung's scores). */
  note(line: string): void;
}

export interface SearchRun {
  teacher: Model;
  dataset: LocalDataset;
  out: string;
  hardware: HardwareProfile;
  progress: SearchProgress;
  /** Checked between candidates and training steps: stop at the next consistent point. */
  stopRequested: () => boolean;
  home?: string;
  /** The process's CPU usage when the command began (its loading counts too); default: now. */
  cpuSince?: NodeJS.CpuUsage;
  /** What a candidate costs here; the engine's measurement unless a test injects costs. */
  measure?: (model: Model, o: MeasureOptions) => Promise<MeasuredCost>;
}

/** The state of a new search: every candidate of the space with the work the engine counts. */
export function newSearchState(
  teacher: Model,
  teacherDir: string,
  teacherWeights: string,
  profile: string,
  hardware: HardwareProfile,
  settings: SearchSettings,
  progress: SearchProgress,
): SearchState {
  const candidates = enumerateCandidates(teacher.config.unet, settings.space);
  const teacherName = candidateName(teacher.config.unet);
  if (!candidates.some((c) => c.name === teacherName))
    candidates.push({ name: teacherName, unet: teacher.config.unet });
  const states: CandidateState[] = candidates.map((c, i) => {
    progress.update('counting', i, candidates.length);
    const m = Model.create(studentConfig(teacher.config, c), 0);
    try {
      return {
        name: c.name,
        unet: c.unet,
        features: costFeatures(m),
        pool: false,
        winner: false,
        rungs: [],
      };
    } finally {
      m.dispose();
    }
  });
  progress.update('counting', candidates.length, candidates.length);
  return {
    version: 1,
    teacher: { dir: teacherDir, weights: teacherWeights, name: teacherName },
    profile,
    hardware,
    settings,
    phase: 'measuring',
    candidates: states,
    seconds: { measure: 0, proxy: 0 },
    cpuSeconds: { measuring: 0, halving: 0, training: 0, correlating: 0, fromStart: true },
    startedAt: new Date().toISOString(),
  };
}

/** What each phase works with: the run, its state, and the two ways the state is written. */
export interface SearchContext {
  run: SearchRun;
  state: SearchState;
  /** Charges the CPU time since the last write to the phase, and writes the state. */
  save(): void;
  /** Moves on to `phase`, charged and written. */
  enter(phase: SearchState['phase']): void;
}

/** Runs (or resumes) the search until it is done or a stop is requested; returns the state. */
export async function runSearch(run: SearchRun, state: SearchState): Promise<SearchState> {
  // CPU time is charged to the phase the state is in, at each save and each phase change.
  state.cpuSeconds ??= {
    measuring: 0,
    halving: 0,
    training: 0,
    correlating: 0,
    fromStart: false,
  };
  let cpuMark = run.cpuSince ?? process.cpuUsage();
  const charge = () => {
    const used = process.cpuUsage(cpuMark);
    cpuMark = process.cpuUsage();
    const cpu = state.cpuSeconds as NonNullable<SearchState['cpuSeconds']>;
    if (state.phase !== 'done') cpu[state.phase] += (used.user + used.system) / 1e6;
  };
  const save = () => {
    charge();
    writeSearchState(run.out, state);
  };
  const enter = (phase: SearchState['phase']) => {
    charge();
    state.phase = phase;
    if (phase === 'done') state.finishedAt = new Date().toISOString();
    writeSearchState(run.out, state);
  };
  const ctx: SearchContext = { run, state, save, enter };
  if (state.phase === 'measuring' && !(await measuringPhase(ctx))) return state;
  // A finished search resumed with a larger `correlate` goes on to train those candidates;
  // one whose correlation has no spread yet (evaluated before features were kept) draws it.
  if (state.phase === 'done' && (correlationPicks(state).length > 0 || spreadStale(state)))
    enter('correlating');
  if (state.phase !== 'measuring' && state.phase !== 'done') await trainingPhases(ctx);
  return state;
}
