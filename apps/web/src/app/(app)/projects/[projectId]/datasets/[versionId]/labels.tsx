'use client';

import type { LabelGroup } from '../../../../../../server/domain/datasets/label-groups.ts';
import { count } from '../../../../../../ui/format.ts';

/** Thumbnails and counts per label, with the held-out split beside the training one. */
export function Labels({
  versionId,
  groups,
  labelled,
}: {
  versionId: string;
  groups: LabelGroup[];
  labelled: boolean;
}) {
  const fileUrl = (sha256: string) => `/api/v1/dataset-versions/${versionId}/files/${sha256}`;
  const train = groups.reduce((s, g) => s + g.train, 0);
  const held = groups.reduce((s, g) => s + g.heldOut, 0);
  return (
    <div className="card" data-testid="labels">
      <div className="card-head">
        <h2>{labelled ? 'Labels' : 'Images'}</h2>
        <span className="muted small">
          {count(train, 'training image')} · {count(held, 'held-out image')} (kept for evaluation)
        </span>
      </div>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Label</th>
              <th className="num">Training</th>
              <th className="num">Held out</th>
              <th>Examples</th>
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g.label} data-label={g.label}>
                <td>{g.label}</td>
                <td className="num">{g.train.toLocaleString()}</td>
                <td className="num">{g.heldOut.toLocaleString()}</td>
                <td>
                  <div className="label-thumbs">
                    {g.samples.map((s) => (
                      <a
                        key={s.relpath}
                        href={fileUrl(s.sha256)}
                        target="_blank"
                        rel="noreferrer"
                        title={`${s.relpath}${s.heldOut ? ' (held out)' : ''}`}
                        className={s.heldOut ? 'held-out' : undefined}
                      >
                        {/* biome-ignore lint/performance/noImgElement: dataset files are served by our API, not Next's image optimizer */}
                        <img
                          src={`${fileUrl(s.sha256)}?thumbnail=80`}
                          alt={s.relpath}
                          loading="lazy"
                        />
                      </a>
                    ))}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
