/**
 * A TCP proxy between the gateway and PostgreSQL that can cut a connection at a chosen moment
 * of the wire protocol — the only way to make "the connection died after COMMIT was sent" happen
 * on demand:
 *  - `cutAfterCommit()`: the server's answer to the next COMMIT (CommandComplete "COMMIT") is
 *    swallowed and both sides are closed: the change is saved, its answer is lost;
 *  - `cutBeforeCommit()`: the next COMMIT the client sends is swallowed and both sides are
 *    closed: the server never sees it and rolls back;
 *  - `freeze()` / `thaw()`: every connection (and every new one) stops moving bytes while the
 *    sockets stay open — a hung server or a network partition, where no TCP error ever comes.
 */
import { once } from 'node:events';
import net from 'node:net';

// CommandComplete: 'C', int32 length (4 + "COMMIT\0" = 11), "COMMIT\0".
const COMMIT_COMPLETE = Buffer.concat([Buffer.from('C'), Buffer.from([0, 0, 0, 11]), Buffer.from('COMMIT\0')]);
// A simple Query message carrying exactly "commit" (how the gateway commits).
const COMMIT_QUERY = Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 11]), Buffer.from('commit\0')]);

export interface FaultProxy {
  readonly port: number;
  cutAfterCommit(): Promise<void>;
  cutBeforeCommit(): Promise<void>;
  /** The next COMMIT is held, unanswered, with its connection open (until `stop()`): no TCP error ever comes. */
  stallCommit(): Promise<void>;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let armed: { kind: 'after' | 'before' | 'stall'; done: () => void } | undefined;
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', cut);
    upstream.on('error', cut);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('data', (chunk: Buffer) => {
      if (armed?.kind === 'before' && chunk.includes(COMMIT_QUERY)) {
        const { done } = armed;
        armed = undefined;
        cut();
        done();
        return;
      }
      if (armed?.kind === 'stall' && chunk.includes(COMMIT_QUERY)) {
        const { done } = armed;
        armed = undefined;
        client.pause();
        upstream.pause();
        done();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (armed?.kind === 'after' && chunk.includes(COMMIT_COMPLETE)) {
        const { done } = armed;
        armed = undefined;
        cut();
        done();
        return;
      }
      client.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const arm = (kind: 'after' | 'before' | 'stall') =>
    new Promise<void>((resolve) => {
      armed = { kind, done: resolve };
    });
  return {
    port,
    cutAfterCommit: () => arm('after'),
    cutBeforeCommit: () => arm('before'),
    stallCommit: () => arm('stall'),
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const socket of sockets) socket.resume();
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
