#!/usr/bin/env node
/**
 * bench/client-size: the browser cost of @spool/client, minified and gzipped (esbuild, platform
 * browser), eventsource-parser measured apart. Target: the core under 6 KiB min+gzip.
 *
 * Usage: node bench/client-size/run.mjs
 */
import { formatBreakdown, formatSizeTable, measureClientSize } from './measure.mjs';

const result = await measureClientSize();
console.log(formatSizeTable(result));
console.log(`\nLargest parts of the core (minified, before gzip):\n\n${formatBreakdown(result)}`);
if (result.core.nodeImports.length > 0) {
  console.error(`The browser bundle imports Node modules: ${result.core.nodeImports.join(', ')}`);
  process.exitCode = 1;
}
