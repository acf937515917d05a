/**
 * `engines` tells the truth: the oldest Node.js it admits satisfies every runtime dependency's
 * own `engines` (development tools may want more; they run in CI on the versions it installs).
 */
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; optional?: boolean; engines?: { node?: string } | string[] }>;
};

describe('engines', () => {
  const oldest = semver.minVersion(pkg.engines.node)!;

  it('admits Node 22 LTS and nothing past its end of life', () => {
    expect(semver.satisfies('22.15.0', pkg.engines.node)).toBe(true);
    expect(semver.satisfies('20.19.0', pkg.engines.node)).toBe(false);
  });

  it(`every runtime dependency runs on the oldest Node it admits (${oldest.version})`, () => {
    const unmet = Object.entries(lock.packages)
      .filter(([name, entry]) => name && !entry.dev && entry.engines && !Array.isArray(entry.engines) && entry.engines.node)
      .filter(([, entry]) => !semver.satisfies(oldest, (entry.engines as { node: string }).node))
      .map(([name, entry]) => `${name} wants node ${(entry.engines as { node: string }).node}`);
    expect(unmet).toEqual([]);
  });
});
