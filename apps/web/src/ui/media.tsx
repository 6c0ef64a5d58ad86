'use client';

import { type MouseEvent, type RefObject, useEffect, useRef, useState } from 'react';
import styles from './media.module.css';
import {
  atDeviceScale,
  defaultGridGeometry,
  type GridGeometry,
  type PixelScale,
  pixelScale,
  tileAt,
  tileOrigin,
  zoomLimit,
} from './pixel-grid.ts';

/** An image's pixel size once loaded (null until then or when it fails). */
export function useNaturalSize(src: string): { w: number; h: number } | null {
  const [size, setSize] = useState<{ src: string; w: number; h: number } | null>(null);
  useEffect(() => {
    let live = true;
    const img = new Image();
    img.onload = () => {
      if (live) setSize({ src, w: img.naturalWidth, h: img.naturalHeight });
    };
    img.src = src;
    return () => {
      live = false;
    };
  }, [src]);
  return size && size.src === src ? { w: size.w, h: size.h } : null;
}

/** window.devicePixelRatio, following browser zoom and moves to another screen. */
export function useDevicePixelRatio(): number {
  const [dpr, setDpr] = useState(1);
  useEffect(() => {
    let query: MediaQueryList | null = null;
    const measure = () => {
      query?.removeEventListener('change', measure);
      setDpr(window.devicePixelRatio || 1);
      // Fires once the ratio leaves this value; then listens for the next one.
      query = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
      query.addEventListener('change', measure);
    };
    measure();
    return () => query?.removeEventListener('change', measure);
  }, []);
  return dpr;
}

/** The smaller of two scales (the one that fits both ways). */
function smaller(a: PixelScale, b: PixelScale): PixelScale {
  return a.device <= b.device ? a : b;
}

/** The content width of an element, following resizes. */
export function useElementWidth(ref: RefObject<HTMLElement | null>): number {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const style = getComputedStyle(el);
      setWidth(el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}

/** A grid's geometry: the one given (a training grid's index), else tileGrid's defaults for n. */
export function geometryOf(
  given: GridGeometry | null | undefined,
  natural: { w: number } | null,
  n: number | undefined,
  classes: string[] | null = null,
): GridGeometry | null {
  if (given) return given;
  if (!natural || !n) return null;
  return defaultGridGeometry(natural.w, n, classes);
}

/**
 * A sample grid drawn at the largest upscale that fits its card with a whole number of
 * device pixels per image pixel (see pixelScale), nearest-neighbour, never the raw small PNG. Clicking an image calls `onOpen` with its index (null: the
 * gutter, a keyboard press, or a grid of unknown layout).
 */
export function GridImage({
  src,
  alt,
  geometry,
  onOpen,
  testId,
  maxHeight = 640,
}: {
  src: string;
  alt: string;
  geometry: GridGeometry | null;
  onOpen: (tile: number | null) => void;
  testId?: string;
  /** Keeps a tall grid from taking over the page. */
  maxHeight?: number;
}) {
  const frame = useRef<HTMLDivElement>(null);
  const width = useElementWidth(frame);
  const natural = useNaturalSize(src);
  const dpr = useDevicePixelRatio();
  const scale = natural
    ? smaller(pixelScale(natural.w, width, dpr), pixelScale(natural.h, maxHeight, dpr))
    : atDeviceScale(1, 1);
  const click = (e: MouseEvent<HTMLButtonElement>) => {
    // A keyboard "click" has no position: open the whole grid.
    if (e.detail === 0 || !geometry) return onOpen(null);
    const box = e.currentTarget.getBoundingClientRect();
    onOpen(tileAt(geometry, (e.clientX - box.left) / scale.css, (e.clientY - box.top) / scale.css));
  };
  return (
    <div ref={frame} className={styles.frame}>
      <button
        type="button"
        className={styles.tileButton}
        onClick={click}
        aria-label={`${alt}: open large${geometry ? ', or click an image to see it alone' : ''}`}
      >
        {/* biome-ignore lint/performance/noImgElement: artifacts are served by our API, not Next's image optimizer */}
        <img
          src={src}
          alt={alt}
          className={styles.pixelated}
          data-testid={testId}
          data-scale={natural ? scale.device : undefined}
          style={
            natural
              ? { width: natural.w * scale.css, height: natural.h * scale.css }
              : { visibility: 'hidden' }
          }
        />
      </button>
    </div>
  );
}

/** One image of a grid, cut out at a whole number of device pixels per image pixel. */
export function TileImage({
  src,
  geometry,
  index,
  scale: { css: scale },
  natural,
}: {
  src: string;
  geometry: GridGeometry;
  index: number;
  scale: PixelScale;
  natural: { w: number; h: number };
}) {
  const o = tileOrigin(geometry, index);
  const side = geometry.size * scale;
  return (
    <div className={styles.crop} style={{ width: side, height: side }}>
      {/* biome-ignore lint/performance/noImgElement: artifacts are served by our API, not Next's image optimizer */}
      <img
        src={src}
        alt=""
        className={styles.pixelated}
        style={{
          width: natural.w * scale,
          height: natural.h * scale,
          left: -o.x * scale,
          top: -o.y * scale,
        }}
      />
    </div>
  );
}

export interface LightboxFrame {
  src: string;
  /** What the frame is, e.g. "step 500". */
  label: string;
}

/**
 * A full-window view of one frame of a grid (or one image of it), at the largest scale the
 * window holds in whole device pixels per image pixel, zoomable a device pixel at a time up
 * to four times the window. Esc closes; the arrow keys step frames,
 * keeping the same image when one is shown alone, so it can be watched as it trains.
 */
export function Lightbox({
  title,
  frames,
  frame,
  onFrame,
  geometry,
  tile,
  onTile,
  onClose,
}: {
  title: string;
  frames: LightboxFrame[];
  frame: number;
  onFrame: (frame: number) => void;
  geometry: GridGeometry | null;
  tile: number | null;
  onTile: (tile: number | null) => void;
  onClose: () => void;
}) {
  const current = frames[Math.min(frame, frames.length - 1)];
  const natural = useNaturalSize(current?.src ?? '');
  const dialog = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ w: 1024, h: 768 });
  const dpr = useDevicePixelRatio();
  /** Device pixels per image pixel the user zoomed to; null: fitted to the window. */
  const [zoom, setZoom] = useState<number | null>(null);
  // A new view (the whole grid or one image) starts fitted to the window.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on tile change only
  useEffect(() => setZoom(null), [tile]);
  useEffect(() => {
    const measure = () => setViewport({ w: window.innerWidth, h: window.innerHeight });
    measure();
    window.addEventListener('resize', measure);
    const before = document.activeElement as HTMLElement | null;
    dialog.current?.focus();
    return () => {
      window.removeEventListener('resize', measure);
      before?.focus?.();
    };
  }, []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        onClose();
      } else if (e.key === 'ArrowLeft' && frame > 0) {
        e.preventDefault();
        onFrame(frame - 1);
      } else if (e.key === 'ArrowRight' && frame < frames.length - 1) {
        e.preventDefault();
        onFrame(frame + 1);
      } else if (e.key === 'Tab') {
        // A modal dialog keeps focus inside: Tab past its last control comes back to its
        // first, Shift+Tab before its first goes to its last.
        const root = dialog.current;
        if (!root) return;
        const controls = [...root.querySelectorAll<HTMLElement>('button:not([disabled])')];
        const first = controls[0];
        const last = controls.at(-1);
        if (!first || !last) return;
        const inside = root.contains(document.activeElement);
        if (
          e.shiftKey &&
          (!inside || document.activeElement === first || document.activeElement === root)
        ) {
          e.preventDefault();
          last.focus();
        } else if (!e.shiftKey && (!inside || document.activeElement === last)) {
          e.preventDefault();
          first.focus();
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [frame, frames.length, onClose, onFrame]);
  if (!current) return null;

  const single = tile !== null && geometry !== null;
  const content = single
    ? { w: geometry.size, h: geometry.size }
    : natural
      ? { w: natural.w, h: natural.h }
      : null;
  const space = { w: viewport.w - 48, h: viewport.h - 150 };
  const fit = content
    ? smaller(pixelScale(content.w, space.w, dpr), pixelScale(content.h, space.h, dpr)).device
    : 1;
  const most = content
    ? Math.min(zoomLimit(content.w, space.w, dpr, fit), zoomLimit(content.h, space.h, dpr, fit))
    : fit;
  const least = pixelScale(1, 1, dpr).device;
  const scale = atDeviceScale(Math.min(zoom ?? fit, most), dpr);
  const label =
    single && geometry
      ? `image ${tile + 1} of ${geometry.n}${geometry.classes?.[tile] !== undefined ? ` · class ${geometry.classes[tile]}` : ''}`
      : null;
  return (
    <div
      ref={dialog}
      className={styles.backdrop}
      role="dialog"
      aria-modal="true"
      aria-label={title}
      tabIndex={-1}
      data-testid="lightbox"
    >
      <div className={styles.lightboxBar}>
        <strong>{title}</strong>
        <span data-testid="lightbox-frame">{current.label}</span>
        {label && <span data-testid="lightbox-tile">{label}</span>}
        <span className="mono" data-testid="lightbox-scale" title="screen pixels per image pixel">
          ×{scale.device}
        </span>
      </div>
      <div className={styles.lightboxBody}>
        {natural &&
          content &&
          (single && geometry && tile !== null ? (
            <TileImage
              src={current.src}
              geometry={geometry}
              index={tile}
              scale={scale}
              natural={natural}
            />
          ) : (
            // biome-ignore lint/performance/noImgElement: artifacts are served by our API, not Next's image optimizer
            <img
              src={current.src}
              alt={`${title}, ${current.label}`}
              className={styles.pixelated}
              data-testid="lightbox-image"
              data-scale={scale.device}
              style={{ width: natural.w * scale.css, height: natural.h * scale.css }}
            />
          ))}
      </div>
      <div className={styles.lightboxBar}>
        {frames.length > 1 && (
          <>
            <button type="button" disabled={frame === 0} onClick={() => onFrame(frame - 1)}>
              ← Previous
            </button>
            <button
              type="button"
              disabled={frame >= frames.length - 1}
              onClick={() => onFrame(frame + 1)}
            >
              Next →
            </button>
          </>
        )}
        <button
          type="button"
          disabled={scale.device <= least}
          onClick={() => setZoom(Math.max(least, scale.device - 1))}
        >
          Zoom out
        </button>
        <button
          type="button"
          disabled={scale.device >= most}
          onClick={() => setZoom(Math.min(most, scale.device + 1))}
        >
          Zoom in
        </button>
        <button type="button" disabled={zoom === null} onClick={() => setZoom(null)}>
          Fit
        </button>
        {single && (
          <button type="button" onClick={() => onTile(null)}>
            Whole grid
          </button>
        )}
        <button type="button" onClick={onClose}>
          Close (Esc)
        </button>
      </div>
    </div>
  );
}
