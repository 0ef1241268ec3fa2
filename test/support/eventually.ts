/** Retries an assertion until it passes or `timeoutMs` runs out (then throws its last failure). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/**
 * Reads until two reads `quietMs` apart agree, and returns that: the state once the controllers and
 * Mayday's watch have finished acting on what came before (a canary's weight raised once its pod is
 * ready, say). For "nothing changed" checks, whose "before" must not be caught mid-way.
 */
export async function settled<T>(read: () => Promise<T>, { quietMs = 1000, timeoutMs = 30_000 } = {}): Promise<T> {
  return eventually(
    async () => {
      const first = await read();
      await new Promise((resolve) => setTimeout(resolve, quietMs));
      const second = await read();
      if (JSON.stringify(first) !== JSON.stringify(second))
        throw new Error(`not settled: ${JSON.stringify(first)} became ${JSON.stringify(second)}`);
      return second;
    },
    timeoutMs,
    0,
  );
}
