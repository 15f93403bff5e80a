/**
 * Memoizes a dynamic `import()` (bundlers split its target into a chunk loaded on first use): calls
 * share one load, and a failed load, such as a chunk requested while offline, is tried again.
 */
export function memoizeImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}
