/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`, e.g. from `BENCH_CPU_PROFILE=DIR npm run bench`):
 * self time by where it is spent — a package under node_modules, a file of ours, Node's
 * internals, garbage collection — as percentages of the non-idle time.
 *
 *   npx tsx scripts/profile-summary.ts DIR_OR_FILE [top=25] [no-writes]
 *
 * `no-writes` leaves out the native socket-write frames (writeBuffer, writev): on an
 * oversubscribed machine a write that wakes the peer is where the process gets descheduled, so
 * those samples are mostly run-queue waiting, not CPU (see /proc/<pid>/schedstat).
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const target = process.argv[2];
const top = Number(process.argv[3] ?? 25);
const skipWrites = process.argv[4] === 'no-writes';
if (!target) throw new Error('usage: profile-summary DIR_OR_FILE [top]');
const files = fs.statSync(target).isDirectory()
  ? fs
      .readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(target, f))
  : [target];

function bucket(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (!url) return `(${functionName || 'anonymous'})`;
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  return src >= 0 ? url.slice(src + 1) : url;
}

const byBucket = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
for (const file of files) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => {
    const node = nodes.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    const b = bucket(node);
    if (node.callFrame.functionName === '(idle)') return;
    if (skipWrites && !node.callFrame.url && ['writeBuffer', 'writev'].includes(node.callFrame.functionName)) return;
    total += dt;
    byBucket.set(b, (byBucket.get(b) ?? 0) + dt);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${b}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
  });
}
const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title} (${(total / 1000).toFixed(0)} ms non-idle)`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`);
  }
};
print('Self time by package / file', byBucket);
print('Self time by function', byFunction);
