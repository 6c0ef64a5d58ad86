import {
  type TrainJobFlags,
  trainJobFlagsSchema,
  trainJobOptions,
  trainJobUsage,
  trainSpecFields,
} from '../commands/train-flags.ts';
import type { AgentJobKind } from './kind.ts';

/**
 * `anneal train` flags from a train spec: every field of the spec becomes a flag (the
 * dataset as its whole ref, options included), so nothing is left to the CLI's defaults. A
 * version ref must already be fetched into the store the child reads.
 */
export const trainAgentKind: AgentJobKind<'train'> = {
  type: 'train',
  submit: {
    usage: `the job flags of \`anneal train\`, with the same meaning and defaults\n${trainJobUsage}`,
    options: trainJobOptions,
    flags: trainJobFlagsSchema,
    spec: (flags) => trainSpecFields(flags as TrainJobFlags),
    flagOf: { conditional: 'unconditional' },
  },
  async args(s, { out, resume }) {
    const args = [
      'train',
      '--dataset-ref',
      JSON.stringify(s.dataset),
      '--resolution',
      String(s.resolution),
      '--steps',
      String(s.steps),
      '--preset',
      s.preset,
      '--parameterization',
      s.parameterization,
      '--seed',
      String(s.seed),
      '--ema-decay',
      String(s.ema_decay),
      '--grad-clip',
      String(s.grad_clip),
      '--lr-schedule',
      s.lr_schedule,
      '--min-lr',
      String(s.min_lr),
      '--loss-weighting',
      s.loss_weighting,
      '--min-snr-gamma',
      String(s.min_snr_gamma),
      '--cfg-dropout',
      String(s.cfg_dropout),
      '--checkpoint-every',
      String(s.checkpoint_every),
      '--log-every',
      String(s.log_every),
      '--out',
      out,
      '--json',
      '--events',
    ];
    if (s.batch) args.push('--batch', String(s.batch));
    if (s.lr !== undefined) args.push('--lr', String(s.lr));
    if (s.warmup !== undefined) args.push('--warmup', String(s.warmup));
    if (s.dtype) args.push('--dtype', s.dtype);
    if (s.sample_every !== undefined) args.push('--sample-every', String(s.sample_every));
    if (s.resolutions) args.push('--resolutions', s.resolutions.join(','));
    if (s.stage_steps) args.push('--stage-steps', s.stage_steps.join(','));
    if (s.multi_resolution) args.push('--multi-resolution');
    if (s.schedule_shift !== undefined)
      args.push('--schedule-shift', s.schedule_shift ? 'on' : 'off');
    if (!s.conditional) args.push('--unconditional');
    if (resume) args.push('--resume');
    return args;
  },
  // Checkpoints go up as the child prints them.
  outputs: () => [],
};
