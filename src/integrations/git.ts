/**
 * Real git, through the git CLI (`execFile`, no shell): a throwaway working directory per
 * operation, fetch one branch, read or write files, commit, push. Chosen over isomorphic-git
 * because that library has no file:// transport (tests and self-hosted setups use local
 * repositories) and the CLI is on every machine that runs us and our CI.
 *
 * Credentials never appear on a command line or in a URL: they travel as an HTTP
 * Authorization header in git's environment configuration (GIT_CONFIG_COUNT/KEY/VALUE), which
 * only this process and its children can read. The environment is otherwise sealed: no system
 * or user git config, no terminal prompts, and only the protocols allowed (https; file and http
 * only when local repositories are allowed).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { badUserInput, conflict, serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';

export interface GitCredentials {
  username?: string | null;
  /** A password or an access token. */
  password: string;
}

export interface GitRemote {
  url: string;
  branch: string;
  credentials: GitCredentials | null;
}

export interface GitOptions {
  allowLocalRepositories: boolean;
  timeoutMs: number;
  logger: Logger;
}

export interface GitIdentity {
  name: string;
  email: string;
}

const BRANCH = /^(?!\/|.*\/\/|.*\/$|.*\.\.|.*\.lock$|-)[A-Za-z0-9._/-]{1,200}$/;

class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly timedOut: boolean,
  ) {
    super(`git ${args[0]} failed`);
  }
}

export class Git {
  constructor(private readonly options: GitOptions) {}

  /** A repository URL this gateway may use, or BAD_USER_INPUT naming the field. */
  validateUrl(field: string, raw: unknown): string {
    if (typeof raw !== 'string' || raw.trim() === '') throw badUserInput(field, 'is required');
    const url = raw.trim();
    if (url.length > 2048 || /[\s\u0000-\u001f]/.test(url)) throw badUserInput(field, 'is not a valid repository URL');
    if (/^https:\/\/[^/@\s]+(:\d+)?\/\S+$/.test(url)) return url;
    if (this.options.allowLocalRepositories && (/^(file|http):\/\/\S+$/.test(url) || path.isAbsolute(url))) return url;
    if (/^https:\/\/[^/\s]*@/.test(url)) throw badUserInput(field, 'must not carry credentials; send them in credentials');
    throw badUserInput(
      field,
      this.options.allowLocalRepositories
        ? 'must be an https:// URL, a file:// URL or an absolute path'
        : 'must be an https:// URL',
    );
  }

  validateBranch(field: string, raw: unknown): string {
    if (typeof raw !== 'string' || !BRANCH.test(raw.trim())) throw badUserInput(field, 'is not a valid branch name');
    return raw.trim();
  }

  /** Runs `fn` in a fresh, empty repository directory, removed afterwards whatever happens. */
  async inWorkingDirectory<T>(remote: GitRemote, fn: (repo: WorkingRepository) => Promise<T>): Promise<T> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gateway-git-'));
    try {
      const repo = new WorkingRepository(this, dir, remote);
      await repo.run(['init', '-q', '-b', remote.branch]);
      return await fn(repo);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** Runs git; failures become stable, content-free errors (stderr goes to the log only). */
  async exec(dir: string, args: string[], remote: GitRemote, extraEnv: Record<string, string> = {}): Promise<string> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      GIT_ALLOW_PROTOCOL: this.options.allowLocalRepositories ? 'https:http:file' : 'https',
      LC_ALL: 'C',
      ...extraEnv,
    };
    if (remote.credentials) {
      const basic = Buffer.from(`${remote.credentials.username || 'git'}:${remote.credentials.password}`).toString('base64');
      Object.assign(env, {
        GIT_CONFIG_COUNT: '1',
        GIT_CONFIG_KEY_0: 'http.extraHeader',
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
      });
    }
    return new Promise((resolve, reject) => {
      execFile(
        'git',
        args,
        { cwd: dir, env, timeout: this.options.timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          if (error) reject(new GitCommandError(args, String(stderr), Boolean((error as { killed?: boolean }).killed)));
          else resolve(String(stdout));
        },
      );
    });
  }

  /** Turns a failed remote operation into what a client can act on. */
  remoteFailure(error: unknown, operation: string): Error {
    if (!(error instanceof GitCommandError)) return error as Error;
    this.options.logger.warn(
      { git: error.args[0], stderr: error.stderr.slice(0, 2000), timedOut: error.timedOut },
      `git ${operation} failed`,
    );
    if (error.timedOut) return serviceUnavailable('The git repository did not answer in time. Try again shortly.', 30);
    if (
      /Authentication failed|could not read Username|terminal prompts disabled|not appear to be a git repository|Repository not found|does not exist|not found|403|401|transport .* not allowed/i.test(
        error.stderr,
      )
    ) {
      return badUserInput('gitRepository', 'The repository could not be read: check its URL, branch and credentials.');
    }
    if (/non-fast-forward|fetch first|rejected/i.test(error.stderr)) {
      return conflict('The branch moved since this workspace last synced with it: pull first, then push.', {
        reason: 'NON_FAST_FORWARD',
      });
    }
    return serviceUnavailable('The git repository is unreachable. Try again shortly.', 30);
  }
}

/** A throwaway working repository bound to one remote branch. */
export class WorkingRepository {
  constructor(
    private readonly git: Git,
    readonly dir: string,
    readonly remote: GitRemote,
  ) {}

  run(args: string[], env?: Record<string, string>): Promise<string> {
    return this.git.exec(this.dir, args, this.remote, env);
  }

  /** Fetches the branch; its head commit, or null when the branch does not exist yet. */
  async fetch(): Promise<string | null> {
    try {
      await this.run(['fetch', '-q', '--no-tags', this.remote.url, `+refs/heads/${this.remote.branch}:refs/remotes/origin/head`]);
    } catch (error) {
      if (error instanceof GitCommandError && /couldn't find remote ref/i.test(error.stderr)) return null;
      throw this.git.remoteFailure(error, 'fetch');
    }
    return (await this.run(['rev-parse', 'refs/remotes/origin/head'])).trim();
  }

  async hasCommit(sha: string): Promise<boolean> {
    try {
      await this.run(['cat-file', '-e', `${sha}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  async checkout(commit: string | null): Promise<void> {
    if (commit) await this.run(['checkout', '-q', '-B', this.remote.branch, commit]);
  }

  /** Stages everything; the new commit's id, or null when nothing changed. */
  async commitAll(message: string, author: GitIdentity, committer: GitIdentity): Promise<string | null> {
    await this.run(['add', '-A']);
    const status = await this.run(['status', '--porcelain']);
    if (!status.trim()) return null;
    await this.run(['commit', '-q', '--no-verify', '-m', message], {
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: committer.name,
      GIT_COMMITTER_EMAIL: committer.email,
    });
    return (await this.run(['rev-parse', 'HEAD'])).trim();
  }

  /** Pushes HEAD to the branch, fast-forward only: a branch that moved is a CONFLICT. */
  async push(): Promise<void> {
    try {
      await this.run(['push', '-q', this.remote.url, `HEAD:refs/heads/${this.remote.branch}`]);
    } catch (error) {
      throw this.git.remoteFailure(error, 'push');
    }
  }

  /** Files under `dir` at the checked-out commit (relative paths). */
  async listFiles(): Promise<string[]> {
    const out = await this.run(['ls-files', '-z']);
    return out.split('\0').filter(Boolean);
  }

  readFile(relative: string): Promise<string> {
    return fs.readFile(path.join(this.dir, relative), 'utf8');
  }

  async writeFile(relative: string, content: string): Promise<void> {
    const target = path.join(this.dir, relative);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, content);
  }

  async removeDirectory(relative: string): Promise<void> {
    await fs.rm(path.join(this.dir, relative), { recursive: true, force: true });
  }
}
