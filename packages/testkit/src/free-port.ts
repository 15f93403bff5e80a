import { type AddressInfo, createServer } from 'node:net';

/**
 * Asks the OS for a free TCP port on `host` (listen on 0, read it, close). Another process can
 * take it before you bind, so prefer listening on port 0 yourself when you can.
 *
 * @param host - @default '127.0.0.1'
 */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
