/**
 * Real git repositories for git-sync tests: a bare repository in a temp directory (the
 * "remote"), and a second clone to change it from outside, the way a colleague would.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Outside Colleague',
  GIT_AUTHOR_EMAIL: 'colleague@example.test',
  GIT_COMMITTER_NAME: 'Outside Colleague',
  GIT_COMMITTER_EMAIL: 'colleague@example.test',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await run('git', args, { cwd, env: ENV })).stdout;
}

export interface Clone {
  dir: string;
  read(file: string): Promise<string>;
  write(file: string, content: string): Promise<void>;
  /** Commits everything and pushes to main. */
  commitAndPush(message: string): Promise<string>;
  log(): Promise<{ sha: string; author: string; subject: string }[]>;
}

export interface BareRepository {
  dir: string;
  url: string;
  /** A fresh clone of main. */
  clone(): Promise<Clone>;
  head(branch?: string): Promise<string | null>;
  remove(): Promise<void>;
}

export async function createBareRepository(): Promise<BareRepository> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'gateway-test-git-'));
  const dir = path.join(root, 'remote.git');
  await fs.mkdir(dir);
  await git(dir, 'init', '-q', '--bare', '-b', 'main');
  let clones = 0;
  return {
    dir,
    url: dir,
    async clone() {
      const cloneDir = path.join(root, `clone-${++clones}`);
      await git(root, 'clone', '-q', dir, cloneDir);
      return {
        dir: cloneDir,
        read: (file) => fs.readFile(path.join(cloneDir, file), 'utf8'),
        async write(file, content) {
          await fs.mkdir(path.dirname(path.join(cloneDir, file)), { recursive: true });
          await fs.writeFile(path.join(cloneDir, file), content);
        },
        async commitAndPush(message) {
          await git(cloneDir, 'add', '-A');
          await git(cloneDir, 'commit', '-q', '-m', message);
          await git(cloneDir, 'push', '-q', 'origin', 'HEAD:main');
          return (await git(cloneDir, 'rev-parse', 'HEAD')).trim();
        },
        async log() {
          const out = await git(cloneDir, 'log', '--format=%H%x09%an <%ae>%x09%s');
          return out
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((line) => {
              const [sha, author, subject] = line.split('\t');
              return { sha: sha!, author: author!, subject: subject! };
            });
        },
      };
    },
    async head(branch = 'main') {
      try {
        return (await git(dir, 'rev-parse', `refs/heads/${branch}`)).trim();
      } catch {
        return null;
      }
    },
    remove: () => fs.rm(root, { recursive: true, force: true }),
  };
}
