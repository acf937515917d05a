/**
 * A read-only request transaction ends in the next request's opening round trip.
 *
 * Query operations run in READ ONLY transactions (PostgreSQL refuses any write in them, see
 * RequestDatabase), so their COMMIT carries nothing: when exactly it happens cannot change what
 * anyone reads or writes. Instead of spending a round trip of its own on it (a socket write, a
 * read, a protocol message for PostgreSQL — about a quarter of the gateway's CPU for `viewer`),
 * the request parks its client here with the transaction still open, and the next request that
 * needs a client takes it and sends `commit; begin …` as one message.
 *
 * Requests that find no idle client wait here as well as in the pool's queue, first come first
 * served: a finishing read-only request hands its client straight to the first of them (the
 * pool's client, when it comes, goes back). Under load, when every client is busy, that is how
 * most read-only transactions end.
 *
 * Bounds, so that parking is never observable as a held transaction:
 *  - A parked client not taken within PARK_MS ends its transaction by itself and goes back to
 *    the pool: no snapshot or lock outlives its request by more than that.
 *  - Nothing parks while others (not request transactions, which could take a parked client)
 *    wait for the pool: the transaction ends in its own round trip and the pool serves them.
 *  - Only request transactions take parked clients; the pool never hands one out.
 *  - A parked client whose connection fails is destroyed; shutdown ends every parked transaction
 *    before the pool closes.
 * The request's settings are transaction-local (`set_config(…, true)`), so COMMIT clears them
 * before the next request's BEGIN binds its own, in the same message.
 */
import type pg from 'pg';

/** Long enough for requests already read from their sockets to take the client, short enough to be invisible. */
export const PARK_MS = 2;

interface Parked {
  client: pg.PoolClient;
  timer: NodeJS.Timeout;
  onError: (error: Error) => void;
}

/** A client for a request transaction; `carried`: its open read-only transaction is to be ended first. */
export interface Acquired {
  client: pg.PoolClient;
  carried: boolean;
}

export class ParkedTransactions {
  /** Most recently parked last: a warm connection is taken first. */
  private readonly parked: Parked[] = [];
  /** Requests waiting for a client (also in the pool's queue), oldest first. */
  private readonly waiters: ((client: pg.PoolClient) => void)[] = [];
  /** Requests served by a hand-over whose place in the pool's queue is still taken. */
  private servedWhileQueued = 0;
  private readonly ending = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly parkMs = PARK_MS,
  ) {}

  get size(): number {
    return this.parked.length;
  }

  /**
   * Parks a client whose read-only transaction is open and idle. False when it should not park
   * (someone waits for the pool, or shutdown began): the caller ends the transaction itself.
   */
  park(client: pg.PoolClient): boolean {
    if (this.closed) return false;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(client);
      return true;
    }
    // Others: whoever waits for the pool besides requests (each of those is counted here).
    if (this.pool.waitingCount - this.servedWhileQueued > 0) return false;
    const entry: Parked = {
      client,
      timer: setTimeout(() => this.end(entry), this.parkMs),
      onError: (error) => {
        if (this.remove(entry)) client.release(error);
      },
    };
    client.on('error', entry.onError);
    this.parked.push(entry);
    return true;
  }

  /**
   * A client for a request transaction: a parked one at once; else whichever comes first, a
   * parked one handed over or the pool's (then the other goes back to the pool). Rejects as
   * pool.connect() does (timeout, unreachable database).
   */
  acquire(): Promise<Acquired> {
    const entry = this.parked.pop();
    if (entry) {
      clearTimeout(entry.timer);
      entry.client.removeListener('error', entry.onError);
      return Promise.resolve({ client: entry.client, carried: true });
    }
    return new Promise<Acquired>((resolve, reject) => {
      let served = false;
      const waiter = (client: pg.PoolClient) => {
        served = true;
        this.servedWhileQueued++;
        resolve({ client, carried: true });
      };
      this.waiters.push(waiter);
      const stopWaiting = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
      };
      this.pool.connect().then(
        (client) => {
          if (served) {
            this.servedWhileQueued--;
            return client.release();
          }
          stopWaiting();
          resolve({ client, carried: false });
        },
        (error: unknown) => {
          if (served) {
            this.servedWhileQueued--;
            return;
          }
          stopWaiting();
          reject(error);
        },
      );
    });
  }

  /** Resolves once nothing is parked or ending: every client this parked is back in the pool. */
  async drained(): Promise<void> {
    while (this.parked.length > 0 || this.ending.size > 0) {
      await Promise.all([...this.ending]);
      if (this.parked.length > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(this.parkMs, 20)));
    }
  }

  /** Ends every parked transaction and stops parking (shutdown, before the pool ends). */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of [...this.parked]) this.end(entry);
    await Promise.all([...this.ending]);
  }

  private remove(entry: Parked): boolean {
    const at = this.parked.indexOf(entry);
    if (at < 0) return false;
    this.parked.splice(at, 1);
    clearTimeout(entry.timer);
    return true;
  }

  /** Nobody took it: end the transaction in a round trip of its own, then return the client. */
  private end(entry: Parked): void {
    if (!this.remove(entry)) return;
    const { client } = entry;
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
    this.ending.add(ended);
    void ended.finally(() => this.ending.delete(ended));
  }
}

const byPool = new WeakMap<pg.Pool, ParkedTransactions>();

/**
 * The parked transactions of one pool (request transactions of every gateway on it share them).
 * `parkMs` applies when the first call creates them (tests hold a client parked on purpose).
 */
export function parkedTransactionsOf(pool: pg.Pool, parkMs = PARK_MS): ParkedTransactions {
  let parked = byPool.get(pool);
  if (!parked) {
    parked = new ParkedTransactions(pool, parkMs);
    byPool.set(pool, parked);
  }
  return parked;
}
