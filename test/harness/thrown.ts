/** What `run` throws, or undefined when it returns: for tests that inspect a refusal's error. */
export function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}
