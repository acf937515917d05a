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

/**
 * A smart-HTTP git server (git's own `git http-backend` behind node:http on 127.0.0.1 and an
 * ephemeral port) that requires Basic credentials: what a hosted repository does.
 */
export interface GitHttpServer {
  url: string;
  /** Authorization headers the server saw, in order (to check what the client sent). */
  seen: (string | null)[];
  stop(): Promise<void>;
}

export async function serveOverHttp(repository: BareRepository, username: string, password: string): Promise<GitHttpServer> {
  const { createServer } = await import('node:http');
  const { spawn } = await import('node:child_process');
  const root = path.dirname(repository.dir);
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const seen: (string | null)[] = [];
  const backend = path.join((await git(root, '--exec-path')).trim(), 'git-http-backend');
  const server = createServer((req, res) => {
    const auth = req.headers.authorization ?? null;
    seen.push(auth);
    if (auth !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn(backend, [], {
      env: {
        ...ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: username,
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [key, ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (key!.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else headers[key!] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
    cgi.on('error', () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/${path.basename(repository.dir)}`,
    seen,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
