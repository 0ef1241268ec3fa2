import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export interface TestTools {
  promtool: string;
  prometheus: string;
  chromium: string;
}

let tools: TestTools | undefined;

/**
 * promtool, Prometheus and Chromium from Debian (scripts/test-tools.sh installs them once, then answers at once).
 * Synchronous: it runs in set-up hooks, one caller per test process.
 */
export function testTools(): TestTools {
  if (tools) return tools;
  const script = resolve(__dirname, '../../scripts/test-tools.sh');
  const output = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 15 * 60_000 });
  const value = (name: string) => {
    const line = output.split('\n').find((entry) => entry.startsWith(`${name}=`));
    if (!line) throw new Error(`scripts/test-tools.sh did not say where ${name} is:\n${output}`);
    return line.slice(name.length + 1);
  };
  tools = { promtool: value('PROMTOOL'), prometheus: value('PROMETHEUS'), chromium: value('CHROMIUM') };
  return tools;
}
