/**
 * One request, one transaction. The client is taken from the pool on the first query only;
 * the request's settings are written with one transaction-local `set_config` statement sent in
 * the same round trip as BEGIN; `finish()` commits (or rolls back) and releases, destroying the
 * client if anything about its state is in doubt. Nothing here uses a session-level SET, so a
 * client returned to the pool carries no request's identity.
 */
import pg from 'pg';

const { escapeLiteral } = pg;
import { serviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { asDatabaseFault, commitOutcomeUnknown, databaseFaultOf, databaseUnavailable, isConnectionFault } from './faults.js';
import { CarryingPool, type Acquired } from './parked-transactions.js';

/** What RLS sees. `access` is the database role of the request (see migrations/CONVENTIONS.md). */
export interface DatabaseBinding {
  userId: string | null;
  orgId: string | null;
  access: 'staff' | 'customer' | null;
  tenantId: string | null;
  /** Who acts: a membership, or a service principal (API key, runner, OIDC client). */
  principal?: BoundPrincipal | null;
  /** The workspace a staff request acts in (X-Workspace-Id); absent or null: organization-wide. */
  workspaceId?: string | null;
  /**
   * The project permissions held in that workspace (`app.project_permissions`), which the write
   * policies of project members and git settings accept besides the organization permission.
   */
  projectPermissions?: readonly string[];
  /**
   * The request's effective permissions, which the write policies require (`app.permissions`).
   * The gateway always passes them (already narrowed in a customer's context). Omitted, the
   * database resolves the bound member's own in the same statement, so a binding can never
   * claim more than its member holds; without access, nothing is bound.
   */
  permissions?: readonly string[] | ReadonlySet<string>;
}

export interface BoundPrincipal {
  kind: 'member' | 'api_key' | 'runner' | 'oidc_client';
  id: string;
}

const PRINCIPAL_KINDS: ReadonlySet<string> = new Set(['member', 'api_key', 'runner', 'oidc_client']);

export const UNBOUND: DatabaseBinding = {
  userId: null,
  orgId: null,
  access: null,
  tenantId: null,
  principal: null,
  workspaceId: null,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The shape app_public.current_permissions() accepts; anything else binds nothing there. */
const PERMISSION_KEY = /^[a-z_]+\.[a-z_]+$/;

/**
 * Literals already built for a set, by identity: a principal's permission set is cached with the
 * principal and bound on every one of its requests (sorting and checking it each time was ~2 % of
 * the gateway's CPU for `viewer`). Sets handed to a binding are never mutated afterwards.
 */
const literalsBySet = new WeakMap<ReadonlySet<string>, string>();

/** `{a.b,c.d}`: a text[] literal of validated keys, sorted (the same set binds the same text). */
export function permissionsLiteral(permissions: Iterable<string>): string {
  if (permissions instanceof Set) {
    const known = literalsBySet.get(permissions);
    if (known !== undefined) return known;
  }
  const keys = [...new Set(permissions)].sort();
  for (const key of keys) {
    if (!PERMISSION_KEY.test(key)) throw new Error(`refusing to bind a malformed permission: ${JSON.stringify(key)}`);
  }
  const literal = `{${keys.join(',')}}`;
  if (permissions instanceof Set) literalsBySet.set(permissions, literal);
  return literal;
}

const PROJECT_PERMISSION_KEY = /^project\.[a-z_]+\.[a-z_]+$/;

/** `{project.a.b,…}`: validated project permission keys, sorted. */
function projectPermissionsLiteral(permissions: Iterable<string>): string {
  const keys = [...new Set(permissions)].sort();
  for (const key of keys) {
    if (!PROJECT_PERMISSION_KEY.test(key))
      throw new Error(`refusing to bind a malformed project permission: ${JSON.stringify(key)}`);
  }
  return `{${keys.join(',')}}`;
}

/**
 * The statement that binds a transaction to a request. Values are validated (uuids, permission
 * keys and a fixed vocabulary) and then quoted, so BEGIN and the settings travel as one
 * simple-protocol message.
 */
export function bindingSql(binding: DatabaseBinding): string {
  const uuidOrEmpty = (v: string | null) => {
    if (v !== null && !UUID.test(v)) throw new Error(`refusing to bind a malformed id: ${JSON.stringify(v)}`);
    return `'${v ?? ''}'`;
  };
  const access = binding.access === 'staff' || binding.access === 'customer' ? binding.access : '';
  const principal = binding.principal && PRINCIPAL_KINDS.has(binding.principal.kind) ? binding.principal : null;
  return (
    `select set_config('app.user_id', ${uuidOrEmpty(binding.userId)}, true), ` +
    `set_config('app.org_id', ${uuidOrEmpty(binding.orgId)}, true), ` +
    `set_config('app.role', '${access}', true), ` +
    `set_config('app.tenant_id', ${uuidOrEmpty(binding.tenantId)}, true), ` +
    `set_config('app.workspace_id', ${uuidOrEmpty(binding.workspaceId ?? null)}, true), ` +
    `set_config('app.project_permissions', '${binding.workspaceId && access === 'staff' ? projectPermissionsLiteral(binding.projectPermissions ?? []) : ''}', true), ` +
    `set_config('app.permissions', ${permissionsValue(binding, access, uuidOrEmpty)}, true), ` +
    `set_config('app.principal_kind', '${principal?.kind ?? ''}', true), ` +
    `set_config('app.principal_id', ${uuidOrEmpty(principal?.id ?? null)}, true)`
  );
}

function permissionsValue(binding: DatabaseBinding, access: string, uuidOrEmpty: (v: string | null) => string): string {
  // Permissions mean something only with access to the organization's rows.
  if (!access) return `''`;
  if (binding.permissions) return `'${permissionsLiteral(binding.permissions)}'`;
  if (!binding.userId || !binding.orgId) return `''`;
  return `app_private.member_permissions(${uuidOrEmpty(binding.userId)}, ${uuidOrEmpty(binding.orgId)}, ${access === 'customer'})`;
}

type State = 'unopened' | 'open' | 'finished';

export interface RequestDatabaseOptions {
  /**
   * Open the transaction READ ONLY (a query operation that has nothing to record): PostgreSQL
   * then refuses any write in it, and its end travels with the next request's BEGIN
   * (src/db/parked-transactions.ts).
   */
  readOnly?: boolean;
}

/**
 * Statements with parameters run as named prepared statements: PostgreSQL parses and plans each
 * text once per connection instead of on every request (plans stay O(page) as generic plans too:
 * test/db/list-plans.test.ts checks both). Names are derived from the text; a bounded number.
 */
const statementNames = new Map<string, string>();
const MAX_PREPARED = 2_000;

function preparedName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED) {
    name = `g${statementNames.size.toString(36)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** A value written into SQL text (for statements sent in the COMMIT round trip). */
export type SqlLiteral = string | number | boolean | null;

function literal(value: SqlLiteral): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('refusing a non-finite number in SQL');
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return escapeLiteral(value);
}

/**
 * Renders `text` with `$n` placeholders replaced by quoted literals (pg's own escaping), so the
 * statement can travel in one simple-protocol message with others.
 */
export function renderStatement(text: string, values: SqlLiteral[]): string {
  return text.replace(/\$(\d+)/g, (_, n: string) => literal(values[Number(n) - 1] ?? null));
}

export class RequestDatabase {
  private client: pg.PoolClient | undefined;
  private opening: Promise<pg.PoolClient> | undefined;
  private state: State = 'unopened';
  private rollbackOnly = false;
  private savepoints = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Writes that travel with COMMIT (audit successes), each with the binding it was made under. */
  private readonly deferred: string[] = [];
  /** The connection died under this request: its transaction is gone (the server rolled it back). */
  private lost = false;
  /** A statement failed: the transaction is aborted (a read-only one has no savepoints to undo that). */
  private statementFailed = false;

  readonly readOnly: boolean;

  constructor(
    private readonly pool: pg.Pool,
    private binding: DatabaseBinding,
    private readonly logger: Logger,
    options: RequestDatabaseOptions = {},
  ) {
    this.readOnly = options.readOnly === true;
  }

  private authzVersion: number | null = null;

  /** Heard while the client is ours; without a listener a dying connection would crash the process. */
  private readonly onConnectionError = (error: Error) => {
    this.lost = true;
    this.logger.warn({ err: error }, 'request database connection failed');
  };
  private readonly onConnectionEnd = () => {
    this.lost = true;
  };

  private release(client: pg.PoolClient, error?: Error): void {
    this.detach(client);
    // Keep an error listener: a destroyed client may still emit while its socket closes.
    if (error) client.on('error', () => {});
    client.release(error);
  }

  private attach(client: pg.PoolClient): void {
    // A checked-out client whose connection dies (a terminated backend, a restart) emits
    // 'error'; unheard, that would crash the process. The next query on it fails anyway.
    client.on('error', this.onConnectionError);
    client.on('end', this.onConnectionEnd);
  }

  private detach(client: pg.PoolClient): void {
    client.removeListener('end', this.onConnectionEnd);
    client.removeListener('error', this.onConnectionError);
  }

  /**
   * Opens the transaction now (instead of at the first query) and returns the authorization
   * version of the bound organization as of this transaction's start, or null without one.
   */
  async open(): Promise<number | null> {
    await this.connection();
    return this.authzVersion;
  }

  /** The transaction is open (not yet finished): abandon() has something to do. */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** A failed mutation doomed the transaction: its rollback is the plan, not a surprise. */
  get rolledBackOnPurpose(): boolean {
    return this.rollbackOnly && !this.lost;
  }

  /** The request's connection died: whatever it did is gone with its transaction. */
  get connectionLost(): boolean {
    return this.lost;
  }

  get currentBinding(): DatabaseBinding {
    return this.binding;
  }

  /**
   * Resolvers run concurrently (DataLoader batches of different types dispatch together), but a
   * connection runs one statement at a time: queue them here rather than inside pg.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const client = await this.connection();
    const name = values && values.length > 0 ? preparedName(text) : undefined;
    // Once the connection is gone (or gave no answer), queued statements fail at once instead
    // of each waiting out its own timeout behind the one that never returned.
    const run = this.queue.then(() =>
      this.lost
        ? Promise.reject(databaseUnavailable('connection lost'))
        : client.query<R>(name ? { name, text, values } : { text, values }),
    );
    this.queue = run.catch(() => undefined);
    try {
      return await run;
    } catch (error) {
      this.statementFailed = true;
      // A lost connection, a restart, a lock or statement timeout, no answer: a retryable 503
      // saying which. The transaction is aborted either way; a lost one cannot even be rolled
      // back, and one that stopped answering is given up (destroyed, never pooled again).
      if (isConnectionFault(databaseFaultOf(error))) this.lost = true;
      throw asDatabaseFault(error);
    }
  }

  /**
   * A write that must commit with the transaction and needs no answer (an audit Success event):
   * sent in the COMMIT's round trip, under the binding in force now. If it fails, the commit
   * fails with it — nothing half-written. Dropped when the transaction (or the mutation's
   * savepoint) rolls back, exactly as if it had run here.
   */
  deferUntilCommit(text: string, values: SqlLiteral[]): void {
    if (this.state === 'finished') throw new Error('the request transaction has already finished');
    // In a read-only transaction these writes run in a transaction of their own, in the same
    // message as its end (finish()): the request itself changed nothing they must commit with.
    this.deferred.push(`${bindingSql(this.binding)}; ${renderStatement(text, values)}`);
  }

  /**
   * Runs one mutation. When it is the operation's only mutation, its failure simply dooms the
   * request's transaction; when several run in one operation, each gets a savepoint so one
   * failing leaves the others' work (and their audit events) intact.
   */
  async mutation<T>(isolated: boolean, fn: () => Promise<T>): Promise<T> {
    if (!isolated) {
      try {
        return await fn();
      } catch (error) {
        this.rollbackOnly = true;
        throw error;
      }
    }
    const name = `mutation_${++this.savepoints}`;
    const deferredBefore = this.deferred.length;
    await this.query(`savepoint ${name}`);
    try {
      const result = await fn();
      await this.query(`release savepoint ${name}`);
      return result;
    } catch (error) {
      this.deferred.length = deferredBefore;
      await this.query(`rollback to savepoint ${name}`).catch(() => {
        this.rollbackOnly = true;
      });
      throw error;
    }
  }

  /**
   * Re-binds the open transaction (creating an organization acts inside the new one), returning
   * a function that restores the previous binding.
   */
  async rebind(binding: DatabaseBinding): Promise<() => Promise<void>> {
    const previous = this.binding;
    this.binding = binding;
    if (this.state === 'open') await this.query(bindingSql(binding));
    return async () => {
      this.binding = previous;
      if (this.state !== 'open') return;
      // Fails only in an aborted transaction, which is rolled back anyway; never continue
      // bound to the wrong organization.
      await this.query(bindingSql(previous)).catch(() => {
        this.rollbackOnly = true;
      });
    };
  }

  /**
   * Commit (or roll back) and release. Safe to call twice. Throws a 503 when the change was not
   * saved, and a distinct 503 (`extensions.outcome: "UNKNOWN"`) when the connection died after
   * COMMIT was sent: only then is the outcome truly unknown.
   */
  async finish(): Promise<'committed' | 'rolled back' | 'unused'> {
    if (this.state === 'unopened') {
      this.state = 'finished';
      return 'unused';
    }
    if (this.state === 'finished') return 'unused';
    this.state = 'finished';
    let client: pg.PoolClient;
    try {
      client = await this.opening!;
    } catch {
      return 'rolled back'; // never connected: nothing to release
    }
    await this.queue;
    if (this.lost) {
      // The server ended the transaction with the connection: nothing of it was committed.
      this.release(client, new Error('connection lost during the request'));
      return 'rolled back';
    }
    // An aborted read-only transaction rolls back, and with it what it deferred: its COMMIT would
    // answer ROLLBACK, but the deferred writes below run in a transaction of their own.
    const verb = this.rollbackOnly || (this.readOnly && this.statementFailed) ? 'rollback' : 'commit';
    try {
      // Deferred writes and COMMIT in one message: if a write fails, the rest is skipped and the
      // transaction ends rolled back (its COMMIT never ran): reported as a failed commit below.
      const writes = verb === 'commit' ? this.deferred.splice(0) : [];
      this.deferred.length = 0;
      if (this.readOnly && verb === 'commit' && writes.length === 0 && this.pool instanceof CarryingPool) {
        // Nothing to commit: the next opening message on this connection ends it (parked-transactions.ts).
        this.detach(client);
        if (this.pool.releaseCarrying(client)) return 'committed';
        this.attach(client);
      }
      const text = !writes.length
        ? verb
        : this.readOnly
          ? `commit; begin; ${writes.join('; ')}; commit`
          : `${writes.join('; ')}; commit`;
      const answer = await client.query(text);
      const result = (Array.isArray(answer) ? answer.at(-1) : answer) as pg.QueryResult;
      this.release(client);
      // COMMIT of an aborted transaction answers ROLLBACK.
      return verb === 'commit' && result.command === 'COMMIT' ? 'committed' : 'rolled back';
    } catch (error) {
      this.logger.error({ err: error }, `request transaction ${verb} failed`);
      this.release(client, error as Error); // destroy: its transaction state is unknown
      if (verb !== 'commit') return 'rolled back';
      const kind = databaseFaultOf(error);
      if (/not queryable/.test((error as Error).message)) {
        // pg refused to send COMMIT on a connection it already knew was dead: rolled back.
        throw databaseUnavailable('connection lost');
      }
      // The connection died, or stopped answering, after COMMIT was sent: nobody knows.
      if (kind === 'connection lost' || kind === 'shutting down' || kind === 'no answer') throw commitOutcomeUnknown();
      // The server answered COMMIT with an error (a deferred constraint, a serialization
      // failure, a timeout): it rolled back.
      throw kind ? databaseUnavailable(kind) : serviceUnavailable('The change could not be saved. Try again.', 1);
    }
  }

  /** Last resort for paths that never reached finish(): roll back and destroy nothing healthy. */
  async abandon(): Promise<void> {
    if (this.state !== 'open') return;
    this.rollbackOnly = true;
    await this.finish().catch(() => {});
  }

  private connection(): Promise<pg.PoolClient> {
    if (this.state === 'finished') {
      return Promise.reject(new Error('the request transaction has already finished'));
    }
    if (!this.opening) {
      this.state = 'open';
      this.opening = this.connect();
    }
    return this.opening;
  }

  private async connect(): Promise<pg.PoolClient> {
    let opening: string;
    try {
      opening = this.openingSql();
    } catch (error) {
      // A binding that cannot be written (a malformed id) never reaches a connection.
      throw this.notOpened(error);
    }
    let acquired: Acquired;
    try {
      acquired =
        this.pool instanceof CarryingPool
          ? await this.pool.connectCarrying()
          : { client: await this.pool.connect(), carried: false };
    } catch (error) {
      throw this.noConnection(error);
    }
    if (acquired.carried) {
      try {
        return await this.begin(acquired.client, `commit; ${opening}`);
      } catch (error) {
        // The carried read-only transaction had nothing to lose, but the connection that held it
        // is gone (begin destroyed it): a fresh one serves the request. Anything else is this
        // request's own failure, as on any connection.
        if (!isConnectionFault(databaseFaultOf(error))) throw this.notOpened(error);
        this.logger.warn(
          { err: error },
          'a database connection failed while it held a finished read-only transaction; opening another',
        );
      }
      try {
        acquired = { client: await this.pool.connect(), carried: false };
      } catch (error) {
        throw this.noConnection(error);
      }
    }
    try {
      return await this.begin(acquired.client, opening);
    } catch (error) {
      throw this.notOpened(error);
    }
  }

  private noConnection(error: unknown): Error {
    this.logger.error({ err: error }, 'no database connection for the request');
    return databaseUnavailable(databaseFaultOf(error) ?? 'unreachable');
  }

  private notOpened(error: unknown): Error {
    this.logger.error({ err: error }, 'could not open the request transaction');
    return databaseUnavailable(databaseFaultOf(error) ?? 'unreachable');
  }

  /** Open, bind, and read the organization's authorization version: one message. */
  private openingSql(): string {
    const version = this.binding.orgId ? `; select app_private.authz_version('${this.binding.orgId}') as v` : '';
    return `${this.readOnly ? 'begin transaction read only' : 'begin'}; ${bindingSql(this.binding)}${version}`;
  }

  /** One round trip (`sql`: openingSql(), after the end of a carried transaction when there is one). */
  private async begin(client: pg.PoolClient, sql: string): Promise<pg.PoolClient> {
    this.attach(client);
    try {
      const results = (await client.query(sql)) as unknown as pg.QueryResult[];
      this.authzVersion = this.binding.orgId ? Number(results.at(-1)!.rows[0].v) : null;
      return client;
    } catch (error) {
      this.release(client, error as Error);
      // That client is gone (destroyed, no longer heard): whatever it reported does not describe
      // the connection a retry opens.
      this.lost = false;
      throw error;
    }
  }
}

/** A short transaction of its own with a binding: audit events written after a rollback. */
export async function withBoundTransaction<T>(
  pool: pg.Pool,
  binding: DatabaseBinding,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // These writes happen exactly while the database is failing: a client dying under them must
  // fail the write, not the process.
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  const release = (error?: Error) => {
    if (!error) client.removeListener('error', onError);
    client.release(error);
  };
  try {
    await client.query(`begin; ${bindingSql(binding)}`);
    const result = await fn(client);
    await client.query('commit');
    release(lost);
    return result;
  } catch (error) {
    try {
      if (lost) throw lost;
      // A connection that died or stopped answering: a rollback would only wait again.
      if (isConnectionFault(databaseFaultOf(error))) throw error;
      await client.query('rollback');
      release();
    } catch (rollbackError) {
      release(rollbackError as Error);
    }
    throw error;
  }
}
