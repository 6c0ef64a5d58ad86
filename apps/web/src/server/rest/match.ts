import type { Method, RestRoute } from './route.ts';

interface Compiled {
  route: RestRoute;
  regex: RegExp;
  names: string[];
}

/** Compiles `{name}` and a trailing `{name*}` to a regex once; matching is then linear. */
export function compileRoutes(routes: RestRoute[]) {
  const compiled: Compiled[] = routes.map((route) => {
    const names: string[] = [];
    const pattern = route.path.replace(/\{(\w+)(\*?)\}/g, (_, name: string, rest: string) => {
      names.push(name);
      return rest ? '(.+)' : '([^/]+)';
    });
    return { route, regex: new RegExp(`^${pattern}$`), names };
  });
  return function match(method: string, path: string) {
    let pathMatched = false;
    for (const c of compiled) {
      const m = c.regex.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== (method as Method)) continue;
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => {
        const raw = m[i + 1] ?? '';
        // A wildcard keeps its percent-encoding: artifact paths decode and validate themselves.
        params[name] = c.route.path.includes(`{${name}*}`) ? raw : safeDecode(raw);
      });
      return { route: c.route, params };
    }
    return pathMatched ? 'method-not-allowed' : null;
  };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
