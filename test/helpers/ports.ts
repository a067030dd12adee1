// Free loopback ports for test servers. There is an unavoidable race between closing the probe socket
// and the real server binding it; callers that spawn servers should retry on EADDRINUSE.
import net from 'node:net';
import dgram from 'node:dgram';

const HOST = '127.0.0.1';

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function bindUdp(port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.unref();
    const onError = (e: Error) => {
      sock.close();
      reject(e);
    };
    sock.once('error', onError);
    sock.bind(port, HOST, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function closeUdp(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => sock.close(() => resolve()));
}

async function freeUdpPort(): Promise<number> {
  const sock = await bindUdp(0);
  const port = sock.address().port;
  await closeUdp(sock);
  return port;
}

/** A port on 127.0.0.1 that was free a moment ago (TCP by default). */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  return kind === 'udp' ? freeUdpPort() : freeTcpPort();
}

/**
 * An even UDP port p with p+1 also free (RTP on even, RTCP on odd, RFC 3550 §11).
 * Both ports are bound at the same time to check them, then released.
 */
export async function freePortPair(): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await bindUdp(0);
    let rtp = first.address().port;
    let held: dgram.Socket[] = [first];
    try {
      if (rtp % 2 === 1) {
        // Odd port from the OS: try the even port below it, keeping nothing bound that we do not need.
        await closeUdp(first);
        held = [];
        rtp -= 1;
        held.push(await bindUdp(rtp));
      }
      held.push(await bindUdp(rtp + 1));
      return [rtp, rtp + 1];
    } catch {
      // One of the pair is taken; try another.
    } finally {
      await Promise.all(held.map(closeUdp));
    }
  }
  throw new Error('freePortPair: no even/odd UDP pair found after 50 attempts');
}
