'use client';

import { SAMPLE_INDEX_ARTIFACT, type SampleIndex, sampleIndexSchema } from '@anneal/protocol';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import {
  GridImage,
  geometryOf,
  Lightbox,
  type LightboxFrame,
  useNaturalSize,
} from '../../../../../../ui/media.tsx';
import { type GridGeometry, sampleFrameStep } from '../../../../../../ui/pixel-grid.ts';

interface Artifact {
  path: string;
  sha256: string;
  contentType: string;
}

type Params = Record<string, string | number | boolean | null>;

/**
 * The run's images: the sample grids logged during training (one frame per step, with a
 * step slider) and any other grid (a sample run's), each drawn at an integer upscale with a
 * lightbox and a single-image view.
 */
export function RunMedia({
  artifacts,
  params,
  artifactUrl,
}: {
  artifacts: Artifact[];
  params: Params;
  artifactUrl: (path: string) => string;
}) {
  const frames = artifacts
    .map((a) => ({ ...a, step: sampleFrameStep(a.path) }))
    .filter((a): a is Artifact & { step: number } => a.step !== null)
    .sort((a, b) => a.step - b.step);
  const index = artifacts.find((a) => a.path === SAMPLE_INDEX_ARTIFACT);
  // The trade-off chart shows in the distillation card; frames and their index just above.
  const grids = artifacts.filter(
    (a) =>
      a.contentType.startsWith('image/') &&
      a.contentType !== 'image/svg+xml' &&
      !a.path.startsWith('distill/') &&
      sampleFrameStep(a.path) === null,
  );
  return (
    <>
      {frames.length > 0 && (
        <TrainingSamples
          frames={frames}
          indexUrl={index ? `${artifactUrl(index.path)}?v=${index.sha256}` : null}
          artifactUrl={artifactUrl}
        />
      )}
      {grids.map((g) => (
        <SampleGrid
          key={g.path}
          src={`${artifactUrl(g.path)}?v=${g.sha256}`}
          path={g.path}
          params={params}
        />
      ))}
    </>
  );
}

function TrainingSamples({
  frames,
  indexUrl,
  artifactUrl,
}: {
  frames: (Artifact & { step: number })[];
  indexUrl: string | null;
  artifactUrl: (path: string) => string;
}) {
  const index = useQuery({
    queryKey: ['sample-index', indexUrl],
    enabled: indexUrl !== null,
    queryFn: async (): Promise<SampleIndex> => {
      const res = await fetch(indexUrl as string);
      if (!res.ok) throw new Error(`${SAMPLE_INDEX_ARTIFACT}: HTTP ${res.status}`);
      const parsed = sampleIndexSchema.safeParse(await res.json().catch(() => undefined));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(
          `${SAMPLE_INDEX_ARTIFACT} is not what anneal train writes: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
        );
      }
      return parsed.data;
    },
  });
  const geometry: GridGeometry | null = index.data
    ? {
        n: index.data.n,
        columns: index.data.columns,
        pad: index.data.pad,
        size: index.data.size,
        classes: index.data.classes,
      }
    : null;
  const [position, setPosition] = useState(frames.length - 1);
  // Follow the newest frame while the user is on the newest one.
  const count = useRef(frames.length);
  useEffect(() => {
    if (frames.length !== count.current) {
      setPosition((p) => (p >= count.current - 1 ? frames.length - 1 : p));
      count.current = frames.length;
    }
  }, [frames.length]);
  const [open, setOpen] = useState<{ tile: number | null } | null>(null);
  const at = Math.min(position, frames.length - 1);
  const frame = frames[at];
  if (!frame) return null;
  const list: LightboxFrame[] = frames.map((f) => ({
    src: `${artifactUrl(f.path)}?v=${f.sha256}`,
    label: `step ${f.step.toLocaleString('en-US')}`,
  }));
  const current = list[at] as LightboxFrame;
  return (
    <div className="card card-pad" data-testid="training-samples">
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h2 style={{ margin: 0 }}>Samples during training</h2>
        <span className="muted small">
          {index.data
            ? `${index.data.n} images, ${index.data.sampler} at ${index.data.steps} steps, the same noise and classes in every frame`
            : 'the same noise and classes in every frame'}
        </span>
      </div>
      {index.error && (
        <p className="error small" data-testid="training-samples-index-error">
          {(index.error as Error).message}; the grid is shown whole, without the image layout
        </p>
      )}
      <div style={{ marginTop: 10 }}>
        <GridImage
          src={current.src}
          alt={`Samples at ${current.label}`}
          geometry={geometry}
          onOpen={(tile) => setOpen({ tile })}
          testId="training-samples-image"
        />
      </div>
      <div style={{ display: 'flex', gap: 10, marginTop: 10, alignItems: 'center' }}>
        <button
          type="button"
          className="btn btn-sm"
          disabled={at === 0}
          onClick={() => setPosition(at - 1)}
          aria-label="Previous frame"
        >
          ←
        </button>
        <input
          type="range"
          min={0}
          max={frames.length - 1}
          value={at}
          onChange={(e) => setPosition(Number(e.target.value))}
          aria-label="Training step of the samples shown"
          aria-valuetext={current.label}
          data-testid="training-samples-slider"
          style={{ flex: 1 }}
          disabled={frames.length < 2}
        />
        <button
          type="button"
          className="btn btn-sm"
          disabled={at >= frames.length - 1}
          onClick={() => setPosition(at + 1)}
          aria-label="Next frame"
        >
          →
        </button>
        <span className="mono small" data-testid="training-samples-step">
          {current.label}
        </span>
        <span className="faint small">
          frame {at + 1} of {frames.length}
        </span>
        <button type="button" className="btn btn-sm" onClick={() => setOpen({ tile: null })}>
          Full size
        </button>
      </div>
      {open && (
        <Lightbox
          title="Samples during training"
          frames={list}
          frame={at}
          onFrame={setPosition}
          geometry={geometry}
          tile={open.tile}
          onTile={(tile) => setOpen({ tile })}
          onClose={() => setOpen(null)}
        />
      )}
    </div>
  );
}

/** A grid that is not a training frame: a sample run's, or one uploaded through the API. */
function SampleGrid({ src, path, params }: { src: string; path: string; params: Params }) {
  const natural = useNaturalSize(src);
  const n = typeof params.n === 'number' ? params.n : undefined;
  // A sample run of one class names it; otherwise image i's class is the model's to say.
  const classes =
    n && typeof params.class === 'number'
      ? Array.from({ length: n }, () => String(params.class))
      : null;
  const geometry = geometryOf(null, natural, n, classes);
  const [open, setOpen] = useState<{ tile: number | null } | null>(null);
  const what = [
    n ? `${n} images` : null,
    typeof params.sampler === 'string' ? params.sampler : null,
    typeof params.steps === 'number' ? `${params.steps} steps` : null,
  ]
    .filter(Boolean)
    .join(', ');
  return (
    <div className="card card-pad" data-testid="sample-grid">
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <h2 style={{ margin: 0 }}>Samples</h2>
        <span className="muted small">
          <span className="mono">{path}</span>
          {what ? ` · ${what}` : ''}
        </span>
      </div>
      <div style={{ marginTop: 10 }}>
        <GridImage
          src={src}
          alt={`Sample grid ${path}`}
          geometry={geometry}
          onOpen={(tile) => setOpen({ tile })}
          testId="sample-grid-image"
        />
      </div>
      {open && (
        <Lightbox
          title="Samples"
          frames={[{ src, label: path }]}
          frame={0}
          onFrame={() => {}}
          geometry={geometry}
          tile={open.tile}
          onTile={(tile) => setOpen({ tile })}
          onClose={() => setOpen(null)}
        />
      )}
    </div>
  );
}
