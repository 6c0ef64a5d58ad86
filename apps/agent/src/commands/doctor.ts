import {
  measureConv,
  measureMatmul,
  memoryStats,
  probeHardware,
  resolveMemoryBudget,
} from '@anneal/engine';
import { z } from 'zod';
import { parseFlags } from '../args.ts';
import { formatBytes, table } from '../format.ts';
import type { Command } from './command.ts';

const usage = `Usage: anneal doctor [--json] [--no-checks] [--memory-budget B]

Reports what Anneal sees on this machine: the MLX backend and version, the BLAS under MLX's
CPU kernels, the chip, cores and memory, the memory budget jobs must fit, and two short
measured checks that size the engine's presets:
  matmul  float32 1024x1024 GEMM, GFLOP/s (the dense-math ceiling)
  conv    3x3 convolution forward + backward, 64 channels, 32x32, batch 64, GFLOP/s

Options:
  --json              print one JSON object (the last stdout line)
  --no-checks         skip the measured checks (instant)
  --memory-budget B   a fraction of the working set (0.6) or a size (12GiB);
                      default: ANNEAL_MEMORY_BUDGET, else 0.75
  -h, --help          show this help`;

const flagsSchema = z.object({
  json: z.boolean().default(false),
  'no-checks': z.boolean().default(false),
  'memory-budget': z.string().optional(),
});

export const doctor: Command = {
  name: 'doctor',
  summary: 'check MLX, the hardware, the memory budget and measured throughput',
  usage,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        json: { type: 'boolean' },
        'no-checks': { type: 'boolean' },
        'memory-budget': { type: 'string' },
      },
      flagsSchema,
    );
    const hw = probeHardware();
    const budget = resolveMemoryBudget(flags['memory-budget']);
    let matmul: Awaited<ReturnType<typeof measureMatmul>> | null = null;
    let conv: Awaited<ReturnType<typeof measureConv>> | null = null;
    if (!flags['no-checks']) {
      if (!flags.json) io.err('measuring matmul and convolution throughput (a few seconds)...');
      matmul = await measureMatmul({ n: 1024, iterations: 5 });
      conv = await measureConv({ batch: 64, size: 32, channels: 64, kernel: 3, iterations: 3 });
    }
    const mem = memoryStats();
    if (flags.json) {
      io.out(
        JSON.stringify({
          backend: hw.backend,
          mlx_version: hw.mlxVersion,
          blas: hw.blas,
          chip: hw.chip,
          cores: hw.cores,
          memory: {
            total_bytes: hw.memory.totalBytes,
            working_set_bytes: hw.memory.workingSetBytes,
            unified: hw.memory.unified,
            budget_bytes: budget.bytes,
            budget_source: budget.source,
            active_bytes: mem.activeBytes,
            peak_bytes: mem.peakBytes,
          },
          matmul_gflops: matmul?.gflops ?? null,
          conv_gflops: conv?.gflops ?? null,
          checks: { matmul, conv },
        }),
      );
      return 0;
    }
    const chip = [
      hw.chip.name || 'unknown',
      hw.chip.family && `(${[hw.chip.family, hw.chip.tier].filter(Boolean).join(' ')})`,
    ]
      .filter(Boolean)
      .join(' ');
    const memoryWhat = hw.memory.unified ? 'unified memory' : 'RAM';
    const rows: Array<[string, string]> = [
      ['MLX', `${hw.mlxVersion}, backend ${hw.backend}, BLAS ${hw.blas}`],
      ['Chip', chip],
      [
        'Cores',
        `${hw.cores.logical} logical, ${hw.cores.performance} performance${hw.cores.efficiency ? `, ${hw.cores.efficiency} efficiency` : ''}`,
      ],
      [
        'Memory',
        `${formatBytes(hw.memory.totalBytes)} ${memoryWhat}, working set ${formatBytes(hw.memory.workingSetBytes)}`,
      ],
      ['Budget', `${formatBytes(budget.bytes)} (${budget.source})`],
    ];
    if (matmul && conv) {
      rows.push(['Matmul', `${matmul.gflops.toFixed(1)} GFLOP/s  float32 1024x1024`]);
      rows.push([
        'Conv',
        `${conv.gflops.toFixed(1)} GFLOP/s  3x3, 64 ch, 32x32, batch 64, fwd+bwd (${((conv.gflops / matmul.gflops) * 100).toFixed(0)}% of matmul)`,
      ]);
    }
    io.out(`Anneal doctor\n${table(rows)}`);
    if (hw.blas === 'reference') {
      io.out(
        '\nwarning: MLX is using its bundled reference BLAS, 10-40x slower than OpenBLAS.\n' +
          '         Install OpenBLAS (Debian: apt-get install libopenblas-dev), then `npm run build:native`.',
      );
    }
    return 0;
  },
};
