/**
 * Git sync per workspace (DESIGN §3b). A workspace names one repository (URL, branch,
 * write-only credentials encrypted like connection credentials). **Push** writes each of the
 * workspace's definitions as one readable file (`workflows/<slug>.json`: pretty-printed, keys in
 * a stable order) and commits them with the caller as author; it builds on the commit the
 * workspace last synced, so a branch that moved since is refused (CONFLICT) rather than
 * overwritten. **Pull** reads the branch and creates new versions of changed definitions and
 * new definitions for added files, reporting what it did; one bad file refuses the whole pull
 * and nothing changes (the request's transaction is rolled back). Pull never deletes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RequestDatabase } from '../db/request-database.js';
import { ErrorCode, conflict, gatewayError, notFound } from '../errors.js';
import type { CredentialCipher } from '../integrations/credentials.js';
import type { Git, GitCredentials, GitIdentity, GitRemote } from '../integrations/git.js';
import {
  createDefinition,
  setWorkflowEnabled,
  updateDefinition,
  type AuthKind,
  type DefinitionKind,
  type DefinitionRow,
} from './definitions.js';
import { optionalText, requireJsonObject, requireText } from './validation.js';

export interface GitRepositoryRow {
  workspace_id: string;
  url: string;
  branch: string;
  has_credentials: boolean;
  synced_commit: string | null;
  last_pushed_at: Date | null;
  last_pulled_at: Date | null;
  updated_at: Date;
}

interface SealedRepositoryRow extends GitRepositoryRow {
  org_id: string;
  credentials: Buffer | null;
  credentials_key_id: string | null;
}

const COLUMNS = `workspace_id, url, branch, credentials is not null as has_credentials, synced_commit, last_pushed_at,
  last_pulled_at, updated_at`;

const DIRECTORY: Record<DefinitionKind, string> = {
  connector: 'connectors',
  workflow: 'workflows',
  agent: 'agents',
  tool: 'tools',
};
const KIND_OF_DIRECTORY = new Map(Object.entries(DIRECTORY).map(([kind, dir]) => [dir, kind as DefinitionKind]));
const FILE = /^(connectors|workflows|agents|tools)\/([^/]+)\.json$/;
const AUTH_KINDS: readonly AuthKind[] = ['oauth2', 'api_key', 'basic', 'none'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The ciphertext is bound to the organization and the workspace (a copy elsewhere does not decrypt). */
const sealedFor = (orgId: string, workspaceId: string) => ({ orgId, connectionId: `git:${workspaceId}` });

export async function loadRepository(db: RequestDatabase, workspaceId: string): Promise<GitRepositoryRow | null> {
  const { rows } = await db.query<GitRepositoryRow>(`select ${COLUMNS} from git_repositories where workspace_id = $1`, [
    workspaceId,
  ]);
  return rows[0] ?? null;
}

export interface RepositoryInput {
  url: string;
  branch?: string | null;
  credentials?: { username?: string | null; password: string } | null;
  clearCredentials?: boolean | null;
}

/**
 * Sets the workspace's repository after checking the gateway can read it with these
 * credentials. A new URL or branch forgets the synced commit (the next push starts from the
 * branch's head). Credentials: given → replaced; `clearCredentials` → removed; else kept.
 */
export async function configureRepository(
  db: RequestDatabase,
  git: Git,
  cipher: CredentialCipher,
  actorId: string,
  orgId: string,
  workspaceId: string,
  input: RepositoryInput,
): Promise<void> {
  const url = git.validateUrl('input.url', input.url);
  const branch = git.validateBranch('input.branch', input.branch ?? 'main');
  let credentials: GitCredentials | null | undefined;
  if (input.credentials) {
    credentials = {
      username: optionalText('input.credentials.username', input.credentials.username, 200),
      password: requireText('input.credentials.password', input.credentials.password, 4096),
    };
  } else if (input.clearCredentials) credentials = null;
  const existing = await lockRepository(db, workspaceId);
  const effective = credentials !== undefined ? credentials : existing ? openCredentials(cipher, existing) : null;
  // Validated against the real remote: unreadable (URL, credentials) is BAD_USER_INPUT now, not at push.
  await git.inWorkingDirectory({ url, branch, credentials: effective }, (repo) => repo.fetch());
  const sealed = credentials
    ? cipher.encrypt(credentials as unknown as Record<string, unknown>, sealedFor(orgId, workspaceId))
    : null;
  await db.query(
    `insert into git_repositories (org_id, workspace_id, url, branch, credentials, credentials_key_id, updated_by)
     values (app_public.current_org_id(), $1, $2, $3, $4, $5, $6)
     on conflict (org_id, workspace_id) do update set
       url = excluded.url, branch = excluded.branch, updated_by = excluded.updated_by,
       credentials = case when $7 then excluded.credentials else git_repositories.credentials end,
       credentials_key_id = case when $7 then excluded.credentials_key_id else git_repositories.credentials_key_id end,
       synced_commit = case when (git_repositories.url, git_repositories.branch) = (excluded.url, excluded.branch)
                            then git_repositories.synced_commit end`,
    [workspaceId, url, branch, sealed, sealed ? cipher.keyId : null, actorId, credentials !== undefined],
  );
}

async function lockRepository(db: RequestDatabase, workspaceId: string): Promise<SealedRepositoryRow | null> {
  const { rows } = await db.query<SealedRepositoryRow>(
    `select ${COLUMNS}, org_id, credentials, credentials_key_id from git_repositories where workspace_id = $1 for update`,
    [workspaceId],
  );
  return rows[0] ?? null;
}

function openCredentials(cipher: CredentialCipher, row: SealedRepositoryRow): GitCredentials | null {
  if (!row.credentials) return null;
  try {
    return cipher.decrypt(
      row.credentials,
      row.credentials_key_id,
      sealedFor(row.org_id, row.workspace_id),
    ) as unknown as GitCredentials;
  } catch {
    throw conflict('The repository credentials can no longer be read (the key changed?); configure them again.');
  }
}

async function requireRemote(db: RequestDatabase, cipher: CredentialCipher, workspaceId: string) {
  const row = await lockRepository(db, workspaceId);
  if (!row) throw notFound('Git repository');
  const remote: GitRemote = { url: row.url, branch: row.branch, credentials: openCredentials(cipher, row) };
  return { row, remote };
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/** Objects with their keys sorted, recursively: the same definition always prints the same. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, stable((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function slug(name: string): string {
  return (
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 80) || 'definition'
  );
}

/** One readable file per definition; fixed top-level order, stable keys inside. */
export function definitionFiles(rows: readonly DefinitionRow[]): { path: string; content: string; row: DefinitionRow }[] {
  const taken = new Set<string>();
  return [...rows]
    .sort(
      (a, b) =>
        a.kind.localeCompare(b.kind) || a.name.toLowerCase().localeCompare(b.name.toLowerCase()) || a.id.localeCompare(b.id),
    )
    .map((row) => {
      let path = `${DIRECTORY[row.kind]}/${slug(row.name)}.json`;
      if (taken.has(path)) path = `${DIRECTORY[row.kind]}/${slug(row.name)}-${row.id.slice(0, 8)}.json`;
      taken.add(path);
      const body: Record<string, unknown> = { kind: row.kind, id: row.id, name: row.name, description: row.description };
      if (row.kind === 'connector') Object.assign(body, { authKind: row.auth_kind, logoUrl: row.logo_url });
      if (row.kind === 'workflow') body.enabled = row.enabled;
      body.definition = stable(row.definition ?? {});
      return { path, content: `${JSON.stringify(body, null, 2)}\n`, row };
    });
}

interface ParsedFile {
  path: string;
  kind: DefinitionKind;
  id: string | null;
  name: string;
  description: string;
  definition: Record<string, unknown>;
  authKind: AuthKind | null;
  logoUrl: string | null;
  enabled: boolean | null;
}

const MAX_FILE_BYTES = 256 * 1024;

/** A file's definition, or the reason it is refused. */
export function parseDefinitionFile(path: string, text: string): ParsedFile | { path: string; reason: string } {
  const kind = KIND_OF_DIRECTORY.get(FILE.exec(path)![1]!)!;
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) return { path, reason: `larger than ${MAX_FILE_BYTES / 1024} KiB` };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { path, reason: 'not valid JSON' };
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return { path, reason: 'not a JSON object' };
  const b = body as Record<string, unknown>;
  try {
    if (b.kind !== undefined && b.kind !== kind)
      return { path, reason: `kind "${String(b.kind)}" does not match its directory (${kind})` };
    if (b.id !== undefined && b.id !== null && (typeof b.id !== 'string' || !UUID.test(b.id)))
      return { path, reason: 'id must be a UUID' };
    if (b.definition === undefined) return { path, reason: 'definition is missing' };
    const authKind = kind === 'connector' ? b.authKind : null;
    if (kind === 'connector' && !(AUTH_KINDS as readonly unknown[]).includes(authKind)) {
      return { path, reason: `authKind must be one of ${AUTH_KINDS.join(', ')}` };
    }
    const logoUrl = kind === 'connector' && b.logoUrl != null ? String(b.logoUrl) : null;
    if (logoUrl && !/^https:\/\/[^\s]{1,2040}$/.test(logoUrl)) return { path, reason: 'logoUrl must be an https:// URL' };
    if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return { path, reason: 'enabled must be true or false' };
    return {
      path,
      kind,
      id: typeof b.id === 'string' ? b.id.toLowerCase() : null,
      name: requireText('name', b.name, 200),
      description: optionalText('description', b.description, 2000) ?? '',
      definition: requireJsonObject('definition', b.definition),
      authKind: authKind as AuthKind | null,
      logoUrl,
      enabled: kind === 'workflow' && typeof b.enabled === 'boolean' ? b.enabled : null,
    };
  } catch (error) {
    return { path, reason: (error as Error).message };
  }
}

async function workspaceDefinitions(db: RequestDatabase, workspaceId: string): Promise<DefinitionRow[]> {
  const { rows } = await db.query<DefinitionRow>(
    `select d.id, d.org_id, d.kind, d.name, d.description, d.current_version, v.definition, d.auth_kind, d.logo_url,
       d.created_at, d.updated_at, d.created_by, d.updated_by, d.workspace_id, d.enabled
     from definitions d
     left join definition_versions v on v.org_id = d.org_id and v.definition_id = d.id and v.version = d.current_version
     where d.workspace_id = $1`,
    [workspaceId],
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Push and pull
// ---------------------------------------------------------------------------------------------

export const GATEWAY_COMMITTER: GitIdentity = { name: 'Control-plane gateway', email: 'gateway@control-plane.invalid' };

export interface PushResult {
  commit: string | null;
  changed: boolean;
  files: string[];
}

export async function pushWorkspace(
  db: RequestDatabase,
  git: Git,
  cipher: CredentialCipher,
  workspaceId: string,
  author: GitIdentity,
  message: string,
): Promise<PushResult> {
  const { row, remote } = await requireRemote(db, cipher, workspaceId);
  const files = definitionFiles(await workspaceDefinitions(db, workspaceId));
  const outcome = await git.inWorkingDirectory(remote, async (repo) => {
    const head = await repo.fetch();
    const base = row.synced_commit ?? head;
    if (row.synced_commit && !(await repo.hasCommit(row.synced_commit))) {
      throw conflict('The branch moved since this workspace last synced with it: pull first, then push.', {
        reason: 'NON_FAST_FORWARD',
      });
    }
    await repo.checkout(base);
    // The workspace is the truth for its four directories; anything else in the repository stays.
    for (const dir of Object.values(DIRECTORY)) await repo.removeDirectory(dir);
    for (const file of files) await repo.writeFile(file.path, file.content);
    const commit = await repo.commitAll(message, author, GATEWAY_COMMITTER);
    if (!commit) return { commit: base, changed: false };
    await repo.push();
    return { commit, changed: true };
  });
  await db.query(
    `update git_repositories set synced_commit = coalesce($2, synced_commit), last_pushed_at = now() where workspace_id = $1`,
    [workspaceId, outcome.changed ? outcome.commit : null],
  );
  return { ...outcome, files: files.map((f) => f.path) };
}

export interface PulledDefinition {
  path: string;
  kind: DefinitionKind;
  id: string;
  name: string;
  version: number;
}

export interface PullResult {
  commit: string;
  added: PulledDefinition[];
  updated: PulledDefinition[];
  unchanged: PulledDefinition[];
}

/** The whole pull is refused: every bad file and why. Nothing was changed. */
function refused(files: { path: string; reason: string }[]) {
  return gatewayError(
    ErrorCode.BAD_USER_INPUT,
    `${files.length} file${files.length === 1 ? ' was' : 's were'} refused; nothing was changed. ${files
      .map((f) => `${f.path}: ${f.reason}`)
      .join('; ')}`,
    { field: 'gitRepository', refused: files },
  );
}

export async function pullWorkspace(
  db: RequestDatabase,
  git: Git,
  cipher: CredentialCipher,
  actorId: string,
  workspaceId: string,
): Promise<PullResult> {
  const { remote } = await requireRemote(db, cipher, workspaceId);
  const { head, files } = await git.inWorkingDirectory(remote, async (repo) => {
    const head = await repo.fetch();
    if (!head) throw notFound('Git branch');
    await repo.checkout(head);
    const paths = (await repo.listFiles()).filter((p) => FILE.test(p));
    return { head, files: await Promise.all(paths.map(async (p) => parseDefinitionFile(p, await repo.readFile(p)))) };
  });

  const bad = files.filter((f): f is { path: string; reason: string } => 'reason' in f);
  const good = files.filter((f): f is ParsedFile => !('reason' in f));
  const seen = new Map<string, string>();
  for (const file of good) {
    const key = `${file.kind}:${file.name.toLowerCase()}`;
    if (seen.has(key)) bad.push({ path: file.path, reason: `same ${file.kind} name as ${seen.get(key)}` });
    else seen.set(key, file.path);
  }
  if (bad.length) throw refused(bad);

  const existing = await workspaceDefinitions(db, workspaceId);
  const result: PullResult = { commit: head, added: [], updated: [], unchanged: [] };
  for (const file of good.sort((a, b) => a.path.localeCompare(b.path))) {
    const current =
      existing.find((d) => d.kind === file.kind && file.id !== null && d.id === file.id) ??
      existing.find((d) => d.kind === file.kind && d.name.toLowerCase() === file.name.toLowerCase());
    try {
      if (!current) {
        const id = await createDefinition(db, file.kind, actorId, {
          name: file.name,
          description: file.description,
          definition: file.definition,
          authKind: file.authKind,
          logoUrl: file.logoUrl,
          workspaceId,
        });
        if (file.enabled === false) await setWorkflowEnabled(db, id, false);
        result.added.push({ path: file.path, kind: file.kind, id, name: file.name, version: 1 });
        continue;
      }
      const definitionChanged = !isDeepStrictEqual(stable(current.definition ?? {}), stable(file.definition));
      const changes = {
        name: file.name !== current.name ? file.name : null,
        description: file.description !== current.description ? file.description : null,
        definition: definitionChanged ? file.definition : null,
        authKind: file.kind === 'connector' && file.authKind !== current.auth_kind ? file.authKind : null,
        logoUrl: file.kind === 'connector' && file.logoUrl && file.logoUrl !== current.logo_url ? file.logoUrl : null,
      };
      const toggled = file.enabled !== null && file.enabled !== current.enabled;
      if (Object.values(changes).every((v) => v === null) && !toggled) {
        result.unchanged.push({
          path: file.path,
          kind: file.kind,
          id: current.id,
          name: current.name,
          version: current.current_version,
        });
        continue;
      }
      if (Object.values(changes).some((v) => v !== null))
        await updateDefinition(db, file.kind, actorId, current.id, changes as Parameters<typeof updateDefinition>[4]);
      if (toggled) await setWorkflowEnabled(db, current.id, file.enabled!);
      result.updated.push({
        path: file.path,
        kind: file.kind,
        id: current.id,
        name: file.name,
        version: current.current_version + (definitionChanged ? 1 : 0),
      });
    } catch (error) {
      // The transaction is aborted at the first database error: the whole pull is refused.
      throw refused([{ path: file.path, reason: (error as Error).message }]);
    }
  }
  await db.query('update git_repositories set synced_commit = $2, last_pulled_at = now() where workspace_id = $1', [
    workspaceId,
    head,
  ]);
  return result;
}
