import { createServer } from 'node:http';
import { OK_REPLY } from '../src/tencent/reply';

/**
 * The HTTP ceiling: a bare node:http server that reads the body, parses the JSON and answers the
 * OK reply (no authentication, no validation, no Kafka): the most any Node HTTP service on this
 * machine can answer. Prints `listening <port>` once it listens. `node http-ceiling.js [port]`
 */
const ok = Buffer.from(OK_REPLY);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': ok.length,
    });
    res.end(ok);
  });
});
server.keepAliveTimeout = 65000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
