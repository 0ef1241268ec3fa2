import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const pinned: string = packageJson.devDependencies.node;

/** [major, minor, patch] of "24.11.0" / "v24.11.0". */
function parse(version: string): number[] {
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!match) throw new Error(`not a version: ${version}`);
  return match.slice(1).map(Number);
}

describe('the runtime the project brings', () => {
  it('pins one exact Node.js 24 (LTS) release as the `node` devDependency', () => {
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
  });

  it('runs the tests on that Node.js, not on whatever Node ran npm', () => {
    // Printed for the test log: the suite's own evidence of the runtime it ran on.
    process.stdout.write(`[runtime] tests run on Node.js ${process.version} (${process.execPath})\n`);
    expect(process.version).toBe(`v${pinned}`);
  });

  it('declares the same line in engines, and the pinned release satisfies it', () => {
    const engines: string = packageJson.engines.node;
    const range = /^\^(\d+\.\d+\.\d+)$/.exec(engines);
    expect(range, `engines.node "${engines}" should be a caret range`).not.toBeNull();
    const [lowMajor, lowMinor, lowPatch] = parse(range![1]);
    const [major, minor, patch] = parse(pinned);
    expect(major).toBe(lowMajor);
    expect(minor * 1e6 + patch).toBeGreaterThanOrEqual(lowMinor * 1e6 + lowPatch);
  });

  it('builds the image on the same Node.js major by default', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const base = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile);
    expect(base?.[1]).toBe(String(parse(pinned)[0]));
  });
});
