/**
 * Layer: scenario. A WRITE's payload taken where the socket read it (the connection's reused read
 * slabs, src/export/read-slabs.ts) keeps its bytes until it has landed, while the socket reads on
 * into the same memory: a backend that looks at the payload only a while after the call still
 * writes what the client sent, for many WRITEs in flight, merged or not, pipelined in one stream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scatteredPieces, type ScatteredBytes } from '../../src/base/scattered-bytes.js';
import { NBD_CMD_FLAG_FUA, NbdCommand, NbdErrno } from '../../src/export/nbd-constants.js';
import { NbdServer } from '../../src/export/nbd-server.js';
import { MemoryBackend } from './helpers/memory-backend.js';
import { RawPeer, requestFrame } from './helpers/raw-peer.js';
import { SeededRandom } from './helpers/seeded-random.js';

const LANDING_MS = 15;

/** A memory backend whose writes land on a later turn, from the pieces as they were given (no copy at the call). */
class LateLookingBackend extends MemoryBackend {
  async writeAsync(offsetBytes: number, scattered: ScatteredBytes): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, LANDING_MS));
    let at = offsetBytes;
    for (const piece of scatteredPieces(scattered)) {
      this.write(at, piece);
      at += piece.length;
    }
  }
}

let server: NbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('WRITE payloads in the socket read memory', () => {
  it('stay as the client sent them until they have landed, while the socket reads on', async () => {
    const backend = new LateLookingBackend({ name: 'm', sizeBytes: 32 << 20 });
    server = new NbdServer({ exports: [backend] });
    const { port } = await server.listen();
    const peer = await RawPeer.connect(port);
    try {
      await peer.enterTransmission('m');
      const rng = new SeededRandom(15);
      const expected = Buffer.alloc(backend.sizeBytes);
      const frames: Buffer[] = [];
      const count = 160;
      let offset = 0;
      for (let handle = 1; handle <= count; handle++) {
        const length = 4096 + rng.int(200 * 1024);
        // Runs of adjacent WRITEs (merged) and gaps between them, some with FUA (never merged).
        if (rng.int(4) === 0) offset += rng.int(64 * 1024);
        if (offset + length > backend.sizeBytes) offset = rng.int(1 << 20);
        const payload = rng.bytes(length);
        payload.copy(expected, offset);
        const flags = rng.int(5) === 0 ? NBD_CMD_FLAG_FUA : 0;
        frames.push(requestFrame({ type: NbdCommand.WRITE, flags, handle, offsetBytes: offset, length }), payload);
        offset += length;
      }
      peer.send(Buffer.concat(frames));
      for (let i = 0; i < count; i++) {
        const reply = await peer.read(16);
        expect(reply.readUInt32BE(4)).toBe(NbdErrno.OK);
      }
      expect(backend.data.equals(expected)).toBe(true);
    } finally {
      peer.destroy();
    }
  });
});
