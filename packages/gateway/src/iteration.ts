/** The result of an iterator that has ended, shared by the plain iterator classes of the relay. */
export const ITERATION_DONE: IteratorReturnResult<undefined> = Object.freeze({
  done: true,
  value: undefined,
});
