import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

/** Starting and stopping the HTTP servers (callback and admin), for the bridge and the consumers. */

export async function listen(
  app: (req: never, res: never) => void,
  port: number,
  host: string,
  requestTimeoutMs?: number,
): Promise<Server> {
  // Node checks request timeouts every connectionsCheckingInterval (30 s by default)
  const checkEvery = Math.max(100, Math.min(1000, Math.floor((requestTimeoutMs ?? 30000) / 2)));
  const server = createServer(
    { connectionsCheckingInterval: checkEvery },
    app as Parameters<typeof createServer>[1],
  );
  if (requestTimeoutMs !== undefined) {
    // slow clients: headers and body must arrive in time; idle keep-alive sockets are kept
    // a little longer than Tencent's client would wait for us
    server.requestTimeout = requestTimeoutMs;
    server.headersTimeout = requestTimeoutMs;
    server.keepAliveTimeout = 65000;
  }
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}
