'use client';

import type { StoredUploadReport } from '../../../../../../server/domain/datasets/versions.ts';
import { count } from '../../../../../../ui/format.ts';

/** The upload that made this version: what it imported and what it left out, and why. */
export function UploadReport({ report }: { report: StoredUploadReport | null }) {
  return (
    <div className="card card-pad" data-testid="upload-report">
      <h2>Upload report</h2>
      {report === null ? (
        <p className="muted">
          This version was made before uploads kept their report (or by an import on an agent).
        </p>
      ) : (
        <>
          <p>
            {count(report.imported, 'file')} imported
            {report.skippedCount > 0 && `, ${count(report.skippedCount, 'image')} left out`}
            {report.ignoredCount > 0 &&
              `, ${count(report.ignoredCount, 'file')} ignored (not PNG, JPEG or WebP)`}
            .
          </p>
          {report.skipped.length > 0 && (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Left out</th>
                    <th>Why</th>
                  </tr>
                </thead>
                <tbody>
                  {report.skipped.map((s) => (
                    <tr key={s.relpath}>
                      <td className="mono wrap">{s.relpath}</td>
                      <td className="wrap">{s.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {report.skippedCount > report.skipped.length && (
                <p className="muted small">
                  and {count(report.skippedCount - report.skipped.length, 'more file')}
                </p>
              )}
            </div>
          )}
          {report.ignored.length > 0 && (
            <details>
              <summary className="muted small">Ignored files</summary>
              <ul className="mono small">
                {report.ignored.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
              {report.ignoredCount > report.ignored.length && (
                <p className="muted small">
                  and {count(report.ignoredCount - report.ignored.length, 'more file')}
                </p>
              )}
            </details>
          )}
        </>
      )}
    </div>
  );
}
