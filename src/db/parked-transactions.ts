/**
 * A read-only request transaction ends in the next opening round trip on its connection.
 *
 * Query operations run in READ ONLY transactions (PostgreSQL refuses any write in them, see
 * RequestDatabase), so their COMMIT carries nothing: when exactly it happens cannot change what
 * anyone reads or writes. Instead of spending a round trip of its own on it (a socket write, a
 * read, a protocol message for PostgreSQL: about a quarter of the gateway's CPU for `viewer`),
 * the request gives its client back with the transaction still open ("carrying" it), and the
 * next request transaction that gets the client sends `commit; begin …` as one message.
 *
 * The pool's own first-come-first-served queue stays the only queue:
 *  - Someone waiting (a request or anyone else): the carrying client goes to the first waiter at
 *    once. A request transaction ends the carried transaction in its opening message; anyone
 *    else gets the client only after a `commit` of its own (connect() below), so nothing but a
 *    request transaction ever sees an open transaction on a pooled client.
 *  - Nobody waiting: the client is parked, still checked out. The next connect() of any kind
 *    takes it: directly while nobody waits, else through the pool's queue (released into it, it
 *    goes to the oldest waiter at once, so it never idles in the pool with its transaction open).
 *    Not wanted within PARK_MS, it ends its transaction by itself and goes back to the pool: no
 *    snapshot or lock outlives its request by more than that (or by the next request's start,
 *    under load).
 *  - A parked client whose connection fails is destroyed; closeCarrying() (end(), before the pool
 *    ends) ends every parked transaction and stops carrying.
 * Reviewed twice: docs/reviews/read-only-transactions-2026-11-26.md.
 * The request's settings are transaction-local (`set_config(…, true)`), so COMMIT clears them
 * before the next request's BEGIN binds its own, in the same message.
 */
import pg from 'pg';

/** Long enough for requests already read from their sockets to take the client, short enough to be invisible. */
export const PARK_MS = 2;

interface Parked {
  client: pg.PoolClient;
  timer: NodeJS.Timeout;
  onError: (error: Error) => void;
}

/** A client for a request transaction; `carried`: an open read-only transaction is to be ended first. */
export interface Acquired {
  client: pg.PoolClient;
  carried: boolean;
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

export interface CarryingPoolConfig extends pg.PoolConfig {
  /** How long a carrying client nobody wants stays parked (tests hold one on purpose). */
  parkMs?: number;
}

export class CarryingPool extends pg.Pool {
  private readonly carrying = new WeakSet<pg.PoolClient>();
  /** Most recently parked last. */
  private readonly parked: Parked[] = [];
  /** Parked transactions being ended (`ending` is pg's own flag: end() was called). */
  private readonly endingParked = new Set<Promise<void>>();
  private readonly parkMs: number;
  private closed = false;

  constructor(config: CarryingPoolConfig) {
    const { parkMs, ...poolConfig } = config;
    super(poolConfig);
    this.parkMs = parkMs ?? PARK_MS;
  }

  /** Clients parked now (checked out, their read-only transaction open). */
  get parkedCount(): number {
    return this.parked.length;
  }

  /**
   * Everyone but request transactions: a client carrying a read-only transaction is handed over
   * only after it ended. (pg's `pool.query()` comes through here too.)
   */
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    const connected = this.checkOut().then(({ client, carried }) => {
      if (!carried) return client;
      // Nobody listens on a checked-out client until its caller does: a connection reset during
      // this round trip would emit 'error' unheard and end the process (second review).
      const onError = () => {};
      client.on('error', onError);
      return client.query('commit').then(
        () => {
          client.removeListener('error', onError);
          return client;
        },
        (error: Error) => {
          client.release(error); // keeps onError: a destroyed client may still emit
          throw error;
        },
      );
    });
    if (!callback) return connected;
    connected.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    );
  }

  /** For request transactions: a client, and whether it carries a read-only transaction to end first. */
  connectCarrying(): Promise<Acquired> {
    return this.checkOut();
  }

  /**
   * A read-only request transaction is done: its client goes to the first waiter, or is parked,
   * with the transaction still open. False once closed: the caller ends it itself.
   */
  releaseCarrying(client: pg.PoolClient): boolean {
    if (this.closed || this.ending) return false;
    this.carrying.add(client);
    if (this.waitingCount > 0) {
      client.release();
      return true;
    }
    const entry: Parked = {
      client,
      timer: setTimeout(() => this.endParked(entry), this.parkMs),
      onError: (error) => {
        if (this.unpark(entry)) {
          this.carrying.delete(client);
          client.release(error);
        }
      },
    };
    client.on('error', entry.onError);
    this.parked.push(entry);
    return true;
  }

  /** Resolves once nothing is parked or ending: every client carried here is back in the pool. */
  async drained(): Promise<void> {
    while (this.parked.length > 0 || this.endingParked.size > 0) {
      await Promise.all([...this.endingParked]);
      if (this.parked.length > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(this.parkMs, 20)));
    }
  }

  /** Ends every parked transaction and stops carrying (shutdown, before the pool ends). */
  async closeCarrying(): Promise<void> {
    this.closed = true;
    for (const entry of [...this.parked]) this.endParked(entry);
    await Promise.all([...this.endingParked]);
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    const ended = this.closeCarrying().then(() => super.end());
    if (!callback) return ended;
    void ended.then(callback, callback);
  }

  /**
   * A parked client, taken directly while nobody waits; else, through the pool's queue, whoever
   * waited longest gets it. `carried`: its read-only transaction is still to be ended.
   */
  private checkOut(): Promise<Acquired> {
    const entry = this.parked.pop();
    if (entry) {
      clearTimeout(entry.timer);
      entry.client.removeListener('error', entry.onError);
      if (this.waitingCount === 0) {
        // Nobody is ahead of this caller: it takes the client as it is. Released into the pool
        // instead, the client would wait there for the pool's nextTick pulse, and a client
        // released meanwhile (pg-pool hands it to the queue head synchronously) would take its
        // place: the carried transaction would then sit in the idle list, open, until someone
        // happened to pick it (second review).
        this.carrying.delete(entry.client);
        return Promise.resolve({ client: entry.client, carried: true });
      }
      // Someone waits: pg-pool gives the client to the oldest waiter synchronously (_release ->
      // _pulseQueue), so it never sits idle with its transaction open.
      entry.client.release();
    }
    return new Promise<Acquired>((resolve, reject) => {
      super.connect((error, client) => {
        if (error || !client) return reject(error ?? new Error('no client'));
        resolve({ client, carried: this.carrying.delete(client) });
      });
    });
  }

  private unpark(entry: Parked): boolean {
    const at = this.parked.indexOf(entry);
    if (at < 0) return false;
    this.parked.splice(at, 1);
    clearTimeout(entry.timer);
    return true;
  }

  /** Nobody wanted it: end the transaction in a round trip of its own, then return the client. */
  private endParked(entry: Parked): void {
    if (!this.unpark(entry)) return;
    const { client } = entry;
    this.carrying.delete(client);
    const ended = client.query('commit').then(
      () => {
        client.removeListener('error', entry.onError);
        client.release();
      },
      (error: Error) => {
        // Keep a listener: a destroyed client may still emit while its socket closes.
        client.removeListener('error', entry.onError);
        client.on('error', () => {});
        client.release(error);
      },
    );
    this.endingParked.add(ended);
    void ended.finally(() => this.endingParked.delete(ended));
  }
}
