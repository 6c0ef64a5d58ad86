'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { bytes, count, noun, when } from '../../../../../ui/format.ts';
import { Icon } from '../../../../../ui/icons.tsx';
import { useMe } from '../../../../../ui/shell.tsx';
import { useTRPC } from '../../../../../ui/trpc.tsx';

/** What an upload answers beside the version: files left out, and why (REST's report). */
interface UploadReport {
  name: string;
  id: string;
  version: number;
  created: boolean;
  fileCount: number;
  skipped: { relpath: string; reason: string }[];
  ignored: string[];
}

/** Uploads a zip or a whole folder (multipart, each file named by its relative path). */
function UploadForm({
  projectId,
  onDone,
}: {
  projectId: string;
  onDone: (report?: UploadReport) => void;
}) {
  const [name, setName] = useState('');
  const [heldout, setHeldout] = useState('0.1');
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (files.length === 0) return setError('files: choose a zip or a folder');
    setBusy(true);
    const url = `/api/v1/projects/${projectId}/datasets/${encodeURIComponent(name)}/versions?heldout=${heldout}`;
    const zip = files.length === 1 && /\.zip$/i.test(files[0]!.name);
    let body: BodyInit;
    const headers: Record<string, string> = {};
    if (zip) {
      body = files[0]!;
      headers['content-type'] = 'application/zip';
    } else {
      const form = new FormData();
      for (const f of files) form.append('files', f, f.webkitRelativePath || f.name);
      body = form;
    }
    const res = await fetch(url, { method: 'POST', body, headers });
    setBusy(false);
    if (!res.ok)
      return setError(((await res.json()) as { error: { message: string } }).error.message);
    onDone({ name, ...((await res.json()) as Omit<UploadReport, 'name'>) });
  }
  return (
    <form className="card card-pad form" onSubmit={submit}>
      <h2>Upload a dataset version</h2>
      <p className="muted small">
        A zip or a folder of images. Sub-folders become labels (<code>cat/001.png</code> is labelled{' '}
        <code>cat</code>). Each upload makes a new immutable version.
      </p>
      <div className="grid grid-2">
        <label className="field">
          Dataset name
          <input
            name="datasetName"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="faces-64"
            required
          />
        </label>
        <label className="field">
          Held-out fraction
          <input
            name="heldout"
            type="number"
            min={0}
            max={0.5}
            step={0.01}
            value={heldout}
            onChange={(e) => setHeldout(e.target.value)}
          />
        </label>
      </div>
      <div className="dropzone">
        <div className="row" style={{ justifyContent: 'center' }}>
          <label className="btn">
            <Icon name="upload" /> Choose zip
            <input
              type="file"
              accept=".zip"
              hidden
              onChange={(e) => setFiles([...(e.target.files ?? [])])}
            />
          </label>
          <label className="btn">
            <Icon name="folder" /> Choose folder
            <input
              type="file"
              hidden
              multiple
              {...{ webkitdirectory: '' }}
              onChange={(e) => setFiles([...(e.target.files ?? [])])}
            />
          </label>
        </div>
        <div style={{ marginTop: 8 }}>
          {files.length
            ? `${count(files.length, 'file')}, ${bytes(files.reduce((s, f) => s + f.size, 0))}`
            : 'Nothing chosen yet'}
        </div>
      </div>
      {error && (
        // A refused upload lists one file per line.
        <div className="error" style={{ whiteSpace: 'pre-wrap' }}>
          {error}
        </div>
      )}
      <div className="row">
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? 'Uploading…' : 'Upload'}
        </button>
        <button className="btn" type="button" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Files an upload left out, by name with the reason, so a browser user sees what a REST caller gets. */
function UploadNotice({
  projectId,
  report,
  onClose,
}: {
  projectId: string;
  report: UploadReport;
  onClose: () => void;
}) {
  const { skipped, ignored } = report;
  const shown = skipped.slice(0, 20);
  return (
    <div className="notice" data-upload-report>
      <div className="row">
        <b>
          <Link href={`/projects/${projectId}/datasets/${report.id}`}>
            {report.name} v{report.version}
          </Link>
          {report.created
            ? `: ${count(report.fileCount, 'file')} imported`
            : ' (unchanged: same content as the latest version)'}
          {report.skipped.length > 0 && `, ${count(report.skipped.length, 'image')} left out`}
          {report.ignored.length > 0 && `, ${count(report.ignored.length, 'file')} ignored`}
        </b>
        <span className="spacer" />
        <button className="btn" type="button" onClick={onClose}>
          Dismiss
        </button>
      </div>
      {skipped.length > 0 && (
        <>
          <p>
            {count(skipped.length, 'image file')} left out because{' '}
            {skipped.length === 1
              ? 'it cannot be decoded or breaks'
              : 'they cannot be decoded or break'}{' '}
            a limit:
          </p>
          <ul>
            {shown.map((s) => (
              <li key={s.relpath}>
                <code>{s.relpath}</code>: {s.reason}
              </li>
            ))}
            {skipped.length > shown.length && <li>and {skipped.length - shown.length} more</li>}
          </ul>
        </>
      )}
      {ignored.length > 0 && (
        <p className="muted small">
          {count(ignored.length, 'file')} that {ignored.length === 1 ? 'is' : 'are'} not PNG, JPEG
          or WebP {ignored.length === 1 ? 'was' : 'were'} ignored.
        </p>
      )}
    </div>
  );
}

export default function DatasetsPage() {
  const { projectId } = useParams<{ projectId: string }>();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canEdit } = useMe();
  const [uploading, setUploading] = useState(false);
  const [report, setReport] = useState<UploadReport | null>(null);
  const data = useQuery(trpc.datasets.list.queryOptions({ projectId }));
  const d = data.data;
  return (
    <div className="stack">
      <div className="row">
        <span className="muted">
          Built-in datasets need no upload: agents generate them locally.
        </span>
        <span className="spacer" />
        {canEdit && !uploading && (
          <button className="btn btn-primary" type="button" onClick={() => setUploading(true)}>
            <Icon name="upload" /> Upload version
          </button>
        )}
      </div>
      {uploading && (
        <UploadForm
          projectId={projectId}
          onDone={(done) => {
            setUploading(false);
            // The per-file report shows after every upload; the version page keeps it.
            if (done) setReport(done);
            void queryClient.invalidateQueries({
              queryKey: trpc.datasets.list.queryKey({ projectId }),
            });
          }}
        />
      )}
      {report && (
        <UploadNotice projectId={projectId} report={report} onClose={() => setReport(null)} />
      )}
      <div className="grid grid-2">
        {d?.builtin.map((b) => (
          <div key={b.name} className="card card-pad">
            <div className="row">
              <Icon name="database" />
              <h3 style={{ margin: 0 }}>{b.name}</h3>
              <span className="tag">built-in</span>
            </div>
            <p className="muted small" style={{ marginTop: 8 }}>
              {b.description}
            </p>
            <div className="stats">
              <span>
                <b>{b.fileCount?.toLocaleString() ?? '∞'}</b> images
              </span>
              <span>
                <b>{b.labels.length}</b> {noun(b.labels.length, 'class', 'classes')}
              </span>
              <span>{b.resolution}</span>
            </div>
          </div>
        ))}
      </div>
      {d && d.stored.length > 0 && (
        <div className="card">
          <div className="card-head">
            <h2>Uploaded datasets</h2>
          </div>
          <table>
            <thead>
              <tr>
                <th>Dataset</th>
                <th>Version</th>
                <th className="num">Files</th>
                <th className="num">Held out</th>
                <th className="num">Size</th>
                <th>Content hash</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {d.stored.flatMap((ds) =>
                ds.versions.map((v) => (
                  <tr key={v.id}>
                    <td>{ds.name}</td>
                    <td>
                      <Link href={`/projects/${projectId}/datasets/${v.id}`}>v{v.version}</Link>
                    </td>
                    <td className="num">{v.fileCount}</td>
                    <td className="num">{v.heldoutCount}</td>
                    <td className="num">{bytes(v.sizeBytes)}</td>
                    <td className="mono faint">{v.contentHash.slice(0, 12)}</td>
                    <td className="muted">{when(v.createdAt)}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      )}
      {d && d.stored.length === 0 && !uploading && (
        <div className="card card-pad muted">
          No uploaded datasets yet.{' '}
          {canEdit
            ? 'Upload a zip or a folder of images, or POST one to'
            : 'Editors can upload a zip or folder, or POST one to'}{' '}
          <code>/api/v1/projects/{projectId}/datasets/&lt;name&gt;/versions</code>.
        </div>
      )}
    </div>
  );
}
