import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodePathSegment } from '../http/request-target.js';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Where the built chat page lives: `packages/gateway/public`, next to `src` and `dist`. */
export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Spool</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>Spool gateway</h1><p>The gateway is running; the chat page has not been built. Run <code>npm start</code>
from the repository (it builds the page), or point an OpenAI client at <code>/v1</code>.</p></body>`;

/**
 * Serves the chat page's files: `/` is `index.html` (never cached), hashed files under `/assets/`
 * are immutable, `/favicon.ico` is `favicon.svg` when there is no `.ico`. Paths are resolved
 * inside the directory only.
 * @returns false when the path is not a file there (the caller answers 404).
 */
export async function serveStatic(
  directory: string,
  path: string,
  response: ServerResponse,
  headOnly: boolean,
): Promise<boolean> {
  const root = resolve(directory);
  const relative =
    path === '/' ? 'index.html' : normalize(decodePathSegment(path, 'path')).replace(/^[/\\]+/, '');
  const file = resolve(join(root, relative));
  if (file !== root && !file.startsWith(root + sep)) return false;
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) return false;
    size = info.size;
  } catch {
    // Browsers ask for /favicon.ico on their own; the page ships its icon as SVG.
    if (path === '/favicon.ico') return serveStatic(directory, '/favicon.svg', response, headOnly);
    if (path !== '/') return false;
    response.writeHead(200, {
      'content-type': CONTENT_TYPES['.html'] as string,
      'cache-control': 'no-cache',
    });
    response.end(headOnly ? undefined : NOT_BUILT);
    return true;
  }
  response.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': size,
    'cache-control': path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  if (headOnly) {
    response.end();
    return true;
  }
  const stream = createReadStream(file);
  stream.on('error', () => response.destroy());
  stream.pipe(response);
  return true;
}
