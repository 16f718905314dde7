/**
 * The link worker: a thread that holds one NBD client per remote secondary and performs the writes
 * the owning thread asks for over the shared channel (link-channel-layout.ts), so that a host write
 * on the owning thread can wait synchronously (Atomics.wait) until every connected secondary has it.
 *
 * Invariants:
 * - requests are served one at a time and in order, and each link has one connection, so a
 *   secondary applies writes in the order the primary made them;
 * - a link that fails a write, or does not answer within the timeout, is dropped (its socket
 *   destroyed, so nothing more of that request is sent) and reported `down`; it is connected again
 *   only when the owning thread asks.
 */
import { parentPort } from 'node:worker_threads';
import { NbdClient } from '../../export/nbd-client.js';
import { pskOf } from '../../export/nbd-tls.js';
import { CHANNEL_WORD, DESCRIPTOR_FIELD, DESCRIPTOR_WORDS, type FromWorker, type ToWorker } from './link-channel-layout.js';
import { MAX_SECONDARIES } from './mirror-limits.js';
import { isSecondarySplitRefusal } from './secondary-split.js';

/** Atomics.waitAsync (Node 16+), which this project's TypeScript lib does not declare yet. */
type WaitAsync = (array: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

const port = parentPort;
if (port === null) throw new Error('link-worker runs as a worker thread');

const clients: Array<NbdClient | undefined> = new Array<NbdClient | undefined>(MAX_SECONDARIES).fill(undefined);
/** Connection attempts in progress, so a second `connect` for the same link is not doubled. */
const connecting = new Set<number>();
let control: Int32Array | undefined;
let data: Uint8Array | undefined;
let timeoutMs = 3_000;

function post(message: FromWorker): void {
  port?.postMessage(message);
}

/** The epoch of each link's last connect: a failure is reported against it. */
const epochs: number[] = new Array<number>(MAX_SECONDARIES).fill(0);
/** A connect asked for while another was in progress: it runs next (its mode is the newer one). */
const queued = new Map<number, Extract<ToWorker, { kind: 'connect' }>>();

function drop(link: number, reason: string): void {
  clients[link]?.destroy();
  clients[link] = undefined;
  post({ kind: 'down', link, epoch: epochs[link] ?? 0, reason });
}

async function connectLink(message: Extract<ToWorker, { kind: 'connect' }>): Promise<void> {
  if (connecting.has(message.link)) {
    queued.set(message.link, message);
    return;
  }
  connecting.add(message.link);
  epochs[message.link] = message.epoch;
  try {
    clients[message.link]?.destroy();
    clients[message.link] = undefined;
    const { address } = message;
    const client = await NbdClient.connect(
      address.kind === 'unix'
        ? { socketPath: address.socketPath, exportName: address.exportName, timeoutMs, mirrorLink: message.mode }
        : {
            mirrorLink: message.mode,
            host: address.host,
            port: address.port,
            exportName: address.exportName,
            timeoutMs,
            ...(address.tls !== undefined ? { tls: { username: address.tls.username, key: pskOf(address.tls.pskFile, address.tls.username) } } : {}),
          },
    );
    clients[message.link] = client;
    post({ kind: 'up', link: message.link, epoch: message.epoch, sizeBytes: client.info.sizeBytes, splitWrites: client.mirrorLinkWrites });
  } catch (error) {
    post({
      kind: 'down',
      link: message.link,
      epoch: message.epoch,
      reason: error instanceof Error ? error.message : String(error),
      heldBySecondary: isSecondarySplitRefusal(error),
    });
  } finally {
    connecting.delete(message.link);
    const next = queued.get(message.link);
    queued.delete(message.link);
    if (next !== undefined) void connectLink(next);
  }
}

function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).then(
    () => clearTimeout(timer),
    (error: unknown) => {
      clearTimeout(timer);
      throw error;
    },
  );
}

/** Sends the request's writes to one link; resolves true when every write was acknowledged. */
async function sendTo(link: number, words: Int32Array, bytes: Uint8Array): Promise<boolean> {
  const client = clients[link];
  if (client === undefined) return false;
  const slotBytes = Atomics.load(words, CHANNEL_WORD.SLOT_BYTES);
  const count = Atomics.load(words, CHANNEL_WORD.UNIT_COUNT);
  const writes: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const at = CHANNEL_WORD.DESCRIPTORS + i * DESCRIPTOR_WORDS;
    const unit = words[at + DESCRIPTOR_FIELD.UNIT] ?? 0;
    const dataOffset = words[at + DESCRIPTOR_FIELD.DATA_OFFSET] ?? 0;
    const dataLength = words[at + DESCRIPTOR_FIELD.DATA_LENGTH] ?? 0;
    const zeroTail = words[at + DESCRIPTOR_FIELD.ZERO_TAIL] ?? 0;
    const offsetBytes = unit * slotBytes;
    // A copy: the socket may still hold the bytes when the next request reuses the shared buffer.
    if (dataLength > 0) writes.push(client.write(offsetBytes, Buffer.from(bytes.subarray(dataOffset, dataOffset + dataLength))));
    if (zeroTail > 0) writes.push(client.writeZeroes(offsetBytes + dataLength, zeroTail));
  }
  for (const w of writes) w.catch(() => undefined);
  try {
    await withTimeout(Promise.all(writes), timeoutMs);
    return true;
  } catch (error) {
    drop(link, error instanceof Error ? error.message : String(error));
    return false;
  }
}

async function serveRequests(words: Int32Array, bytes: Uint8Array): Promise<void> {
  // The last request served: one posted before this worker started is still served.
  let lastSeq = Atomics.load(words, CHANNEL_WORD.DONE_SEQ);
  // Runs for the worker's life: each turn serves one request or waits for the next.
  for (;;) {
    const wait = waitAsync(words, CHANNEL_WORD.REQUEST_SEQ, lastSeq);
    if (wait.async) await wait.value;
    const seq = Atomics.load(words, CHANNEL_WORD.REQUEST_SEQ);
    if (seq === lastSeq) continue;
    lastSeq = seq;
    const mask = Atomics.load(words, CHANNEL_WORD.LINK_MASK);
    const links = [...Array(MAX_SECONDARIES).keys()].filter((l) => (mask & (1 << l)) !== 0);
    const results = await Promise.all(links.map((l) => sendTo(l, words, bytes)));
    let failed = 0;
    links.forEach((l, i) => {
      if (!results[i]) failed |= 1 << l;
    });
    Atomics.store(words, CHANNEL_WORD.FAILED_MASK, failed);
    Atomics.store(words, CHANNEL_WORD.DONE_SEQ, seq);
    Atomics.notify(words, CHANNEL_WORD.DONE_SEQ);
  }
}

port.on('message', (message: ToWorker) => {
  if (message.kind === 'init') {
    control = new Int32Array(message.control);
    data = new Uint8Array(message.data);
    timeoutMs = message.timeoutMs;
    void serveRequests(control, data);
  } else if (message.kind === 'connect') {
    void connectLink(message);
  } else {
    clients[message.link]?.destroy();
    clients[message.link] = undefined;
  }
});
