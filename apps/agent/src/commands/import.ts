import { Model } from '@anneal/engine';
import { importDiffusersUNet } from '@anneal/engine/interop';
import { z } from 'zod';
import { parseFlags, UsageError } from '../args.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal import diffusers DIR --out DIR2 [--json]

Converts a diffusers UNet2DModel into an Anneal checkpoint (model.safetensors + config.json).
DIR is a UNet2DModel.save_pretrained folder (config.json + diffusion_pytorch_model.safetensors)
or a pipeline folder with unet/ (its scheduler/ sets the schedule and parameterization).
Weight names stay diffusers'; conv weights go from PyTorch's OIHW to MLX's OHWI. A config
the engine cannot run is refused, naming the key. The result is loaded once to check it.

Options:
  --out DIR2   the checkpoint folder to write (created if needed)
  --json       print one JSON object (the last stdout line)
  -h, --help   show this help`;

const flagsSchema = z.object({
  out: z.string({ error: 'is required' }).min(1, 'is required'),
  json: z.boolean().default(false),
});

export const importCommand: Command = {
  name: 'import',
  summary: 'convert a diffusers UNet2DModel into an Anneal checkpoint',
  usage,
  async run(argv, io) {
    const [kind, dir, ...rest] = argv;
    if (kind !== 'diffusers')
      throw new UsageError(`unknown import source "${kind ?? ''}"; supported: diffusers`);
    if (!dir || dir.startsWith('--'))
      throw new UsageError('DIR: the diffusers folder to import is required');
    const flags = parseFlags(
      rest,
      { out: { type: 'string' }, json: { type: 'boolean' } },
      flagsSchema,
    );
    const result = importDiffusersUNet(dir, flags.out);
    // Loading checks that every name and shape is what the engine's U-Net expects.
    const model = Model.load(flags.out);
    const parameters = model.parameterCount();
    model.dispose();
    if (flags.json) {
      io.out(
        JSON.stringify({
          out: result.out,
          parameters,
          tensors: result.tensors,
          config: result.config,
        }),
      );
    } else {
      io.out(
        `wrote ${result.out}: ${parameters.toLocaleString('en-US')} parameters in ${result.tensors} tensors (${result.config.parameterization}, ${result.config.schedule.kind} schedule)`,
      );
    }
    return 0;
  },
};
