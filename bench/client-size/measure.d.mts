/** One esbuild bundle and its sizes. */
export interface BundleSize {
  name: string;
  code: string;
  minBytes: number;
  gzipBytes: number;
  /** Source files by minified bytes in the output, largest first. */
  inputs: Array<{ path: string; bytes: number }>;
  /** Imports left external (eventsource-parser for the core). */
  externals: string[];
  /** `node:` modules the bundle still imports; a browser bundle must have none. */
  nodeImports: string[];
  /** Chunks only `import()` reaches: loaded on demand, not counted in `minBytes`/`gzipBytes`. */
  lazyChunks: Array<{ inputs: string[]; minBytes: number; gzipBytes: number }>;
}

/** The core (`createClient`, up front), every export, and eventsource-parser, measured. */
export interface ClientSize {
  core: BundleSize;
  allExports: BundleSize;
  parser: BundleSize;
  targetBytes: number;
}

export const CORE_TARGET_BYTES: number;
export function nodeImportsIn(code: string): string[];
export function measureClientSize(): Promise<ClientSize>;
export function formatSizeTable(size: ClientSize): string;
export function formatBreakdown(size: ClientSize, top?: number): string;
