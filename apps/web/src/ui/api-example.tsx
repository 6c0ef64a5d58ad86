'use client';

/** The REST calls a user copies to log their first run; shown in empty states. */
export function ApiExample({ projectId }: { projectId: string }) {
  const origin = typeof window === 'undefined' ? 'http://localhost:3000' : window.location.origin;
  return (
    <pre className="code">{`export ANNEAL_TOKEN=...   # Settings → API tokens
RUN=$(curl -s -X POST ${origin}/api/v1/projects/${projectId}/runs \\
  -H "Authorization: Bearer $ANNEAL_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"name":"ddpm-baseline","params":{"lr":0.0002,"steps":1000}}' | jq -r .id)
curl -s -X POST ${origin}/api/v1/runs/$RUN/metrics \\
  -H "Authorization: Bearer $ANNEAL_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"metrics":[{"key":"loss","step":1,"value":0.42}]}'
curl -s -X PUT ${origin}/api/v1/runs/$RUN/artifacts/samples/grid.png \\
  -H "Authorization: Bearer $ANNEAL_TOKEN" --data-binary @grid.png`}</pre>
  );
}
