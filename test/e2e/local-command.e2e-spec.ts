import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort } from '../support/ports';

const root = resolve(__dirname, '../..');

describe('the README commands', () => {
  it('`npm run local -- --smoke` builds, starts the cluster and the production build with the gate on, and converges a demo experiment', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'mayday-local-'));
    try {
      const result = spawnSync('npm', ['run', 'local', '--', '--smoke'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, MAYDAY_LOCAL_RUN_DIR: runDir, PORT: String(await closedPort()), LOG_LEVEL: 'warn' },
        timeout: 240_000,
      });
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.status, output).toBe(0);
      // On the Node.js the project pins, whatever Node.js runs npm.
      const pinned = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies.node;
      expect(output).toContain(`Node.js v${pinned} (`);
      expect(output).toContain('webhook URL:');
      expect(output).toContain(`kubeconfig:    ${runDir}/kubeconfig`);
      // The readiness gate is on: the canary waits, then gets its weight once the controllers report its pod ready.
      expect(output).toMatch(/demo: ExperimentStarted -> canary \S+-test1 weight 0 \(waiting: /);
      expect(output).toMatch(/demo: pods ready \(1\/1 available\) -> canary weight 10, [\d.]+ s after the event, without another webhook/);
      expect(output).toContain('smoke: start and conclude of a demo experiment converged');
      // A fresh random token, and a curl that uses it, ready to paste.
      const token = /webhook token: ([0-9a-f]{64}) /.exec(output)?.[1];
      expect(token, output).toBeDefined();
      expect(output).toContain(`curl -sS -X POST http://127.0.0.1:`);
      expect(output).toContain(`-H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '{"event_info":`);
    } finally {
      spawnSync('bash', [join(root, 'scripts/kube-control-plane.sh'), 'stop', runDir]);
      rmSync(runDir, { recursive: true, force: true });
    }
  }, 300_000);

  it('the built dist/main.js refuses a bad environment with a message naming the variable', () => {
    const result = spawnSync(process.execPath, [join(root, 'dist/main.js')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, PORT: 'eighty', TRAFFIC_PROVIDER: 'istio' },
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORT must be an integer');
    expect(result.stderr).toContain('TRAFFIC_PROVIDER must be one of nginx, gateway-api');
    expect(result.stderr).not.toContain('    at ');
  });

  // Closed by default: without a usable webhook token the production build does not start.
  it.each([
    ['no token', {}, 'WEBHOOK_TOKEN is required'],
    ['a short token', { WEBHOOK_TOKEN: 'x'.repeat(31) }, 'WEBHOOK_TOKEN is 31 characters long; it must have at least 32'],
    ['the placeholder deploy/ once shipped', { WEBHOOK_TOKEN: 'change-me-to-a-long-random-string' }, 'WEBHOOK_TOKEN is a placeholder'],
    [
      'WEBHOOK_AUTH=none with a token',
      { WEBHOOK_AUTH: 'none', WEBHOOK_TOKEN: 'y'.repeat(40) },
      'WEBHOOK_AUTH=none but WEBHOOK_TOKEN is set',
    ],
  ])('dist/main.js refuses to start with %s, exits non-zero and names the variable', (_what, env, message) => {
    const result = spawnSync(process.execPath, [join(root, 'dist/main.js')], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, ...env },
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('    at ');
  });
});
