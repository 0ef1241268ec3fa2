import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * nestjs-pino 5 builds one pino-http logger per process, on first use, and every later app in the
 * process writes through it (its level, its destination). Tests that read one app's log lines reset
 * it first. The reset lives in a file the package's `exports` do not list, so it is loaded by path,
 * from the same build (ESM, as Vitest loads the package) that the app uses.
 */
export async function resetProcessLogger(): Promise<void> {
  const packageJson = createRequire(__filename).resolve('nestjs-pino/package.json');
  const file = join(dirname(packageJson), 'dist', 'esm', 'PinoLogger.js');
  const { __resetOutOfContextForTests } = (await import(pathToFileURL(file).href)) as { __resetOutOfContextForTests(): void };
  __resetOutOfContextForTests();
}
