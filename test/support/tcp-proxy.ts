import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to a local service that a test can take away and bring back (refused
 * connections while closed), as a dependency that goes down and comes back. Its port stays the
 * same across close/open.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private dropping = false;
  /** Connections accepted and cut at once while dropping (attempts a test can wait for). */
  dropped = 0;

  private constructor(
    readonly port: number,
    private readonly targetPort: number,
  ) {}

  /** A proxy on a free port, to 127.0.0.1:targetPort; open (listening) when `open`. */
  static async create(targetPort: number, open = true): Promise<TcpProxy> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((r) => probe.close(() => r()));
    const proxy = new TcpProxy(port, targetPort);
    if (open) await proxy.open();
    return proxy;
  }

  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      if (this.dropping) {
        this.dropped++;
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /**
   * While on, every connection (open ones too) is cut as soon as it is made, and counted: the
   * service is away, and a test can see that a client tried to reach it.
   */
  drop(on: boolean): void {
    this.dropping = on;
    if (on) for (const s of this.sockets) s.destroy();
  }

  /** Stops listening and cuts every connection: the service is gone. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
