'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { bytes, count, errorMessage, when } from '../../../../../../ui/format.ts';
import { Empty } from '../../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import { Labels } from './labels.tsx';
import { UploadReport } from './upload-report.tsx';

export default function DatasetVersionPage() {
  const { projectId, versionId } = useParams<{ projectId: string; versionId: string }>();
  const trpc = useTRPC();
  const v = useQuery(trpc.datasets.version.queryOptions({ versionId }));
  if (v.error)
    return (
      <div className="card">
        <Empty icon="database" title="Version not found">
          <p>{errorMessage(v.error)}</p>
        </Empty>
      </div>
    );
  const d = v.data;
  if (!d) return null;
  return (
    <div className="stack">
      <Link href={`/projects/${projectId}/datasets`} className="muted small">
        ← Datasets
      </Link>
      <div className="card card-pad">
        <h2>
          {d.datasetName} v{d.version}
        </h2>
        <dl className="kv">
          <dt>Version id</dt>
          <dd>{d.id}</dd>
          <dt>Content hash</dt>
          <dd>{d.contentHash}</dd>
          <dt>DVC md5</dt>
          <dd>{d.dvcMd5}</dd>
          <dt>Files</dt>
          <dd>
            {d.fileCount.toLocaleString()} ({bytes(d.sizeBytes)}), {d.heldoutCount.toLocaleString()}{' '}
            held out for evaluation
          </dd>
          <dt>Classes</dt>
          <dd>{d.classes.join(', ') || '—'}</dd>
          <dt>Fit</dt>
          <dd>{d.fit}</dd>
          <dt>Created</dt>
          <dd>{when(d.createdAt)}</dd>
        </dl>
      </div>
      <Labels versionId={d.id} groups={d.labels} labelled={d.classes.length > 0} />
      <UploadReport report={d.uploadReport} />
      <div className="card">
        <div className="card-head">
          <h2>Manifest</h2>
          <span className="muted small">
            {d.files.length < d.fileCount
              ? `first ${d.files.length.toLocaleString()} of ${d.fileCount.toLocaleString()} files`
              : count(d.fileCount, 'file')}
          </span>
        </div>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Path</th>
                <th>Label</th>
                <th>Split</th>
                <th className="num">Size</th>
                <th>sha256</th>
              </tr>
            </thead>
            <tbody>
              {d.files.map((f) => (
                <tr key={f.relpath}>
                  <td className="mono">
                    <a
                      href={`/api/v1/dataset-versions/${d.id}/files/${f.sha256}`}
                      target="_blank"
                      rel="noreferrer"
                    >
                      {f.relpath}
                    </a>
                  </td>
                  <td>{f.label === null ? '—' : d.classes[f.label]}</td>
                  <td>{f.heldOut ? <span className="tag">held out</span> : 'train'}</td>
                  <td className="num">{bytes(f.size)}</td>
                  <td className="mono faint">{f.sha256.slice(0, 16)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}
