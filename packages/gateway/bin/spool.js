#!/usr/bin/env node
// The `spool` command. This file is committed, unlike dist/, so that `npm ci` in the repository links
// `node_modules/.bin/spool` before anything is built (npm skips a bin whose file does not exist yet).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/bin/spool.js', import.meta.url);
if (existsSync(cli)) {
  await import(cli.href);
} else {
  process.stderr.write('spool: @spool/gateway is not built: run `npm run build` at the repository root\n');
  process.exitCode = 1;
}
