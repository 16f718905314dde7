/**
 * The link worker: a thread that holds one NBD client per remote secondary and performs the writes
 * the owning thread asks for over the shared channel (link-channel-layout.ts), so that a host write
 * on the owning thread can wait synchronously (Atomics.wait) until every connected secondary has it.
 *
 * Invariants:
 * - requests are sent in order, each link on one connection, without waiting for the answers to
 *   the ones before (up to LINK_SLOTS in flight); the owning thread never has two requests in
 *   flight that write the same bytes (link-channel.ts), so whatever order a server runs them in,
 *   a secondary ends with the primary's bytes. Inside one request, a sparse run's zero fill is
 *   answered before the WRITEs that overlap it are sent (link-requests.ts);
 * - a request's bytes are sent from its slot of the shared buffer without a copy: the slot is
 *   written again only after its DONE_SEQ, which is stored once every link has acknowledged the
 *   request (the server has read every byte) or has been destroyed (its socket sends no more);
 * - a link that fails a write, or does not answer within the timeout, is dropped (its socket
 *   destroyed, so nothing more of that request is sent) and reported `down`; it is connected again
 *   only when the owning thread asks.
 */
import { parentPort } from 'node:worker_threads';
import { NbdClient } from '../../export/nbd-client.js';
import { pskOf } from '../../export/nbd-tls.js';
import { CHANNEL_WORD, CHANNEL_WORDS, DESCRIPTOR_FIELD, DESCRIPTOR_WORDS, nextRequestSeq, type FromWorker, type ToWorker } from './link-channel-layout.js';
import { LINK_BATCH_BYTES, LINK_SLOTS, MAX_SECONDARIES } from './mirror-limits.js';
import { isSecondarySplitRefusal } from './secondary-split.js';
import { planLinkRequests, type LinkDescriptor, type LinkWrite } from './link-requests.js';

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

/** When each connection last had an answer: a link's timeout counts from it (or from the send). */
const lastAnswer = new WeakMap<NbdClient, number>();

/**
 * Resolves when `work` does; rejects when `client` has answered nothing for `ms` since `since`.
 * With requests in flight, a request waits at the server behind the ones before it: the link is
 * timed out only when it stops answering, not when one request spends longer than `ms` in the queue.
 */
function untilAnswered(work: Promise<unknown>, client: NbdClient, since: number, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      const quiet = Date.now() - Math.max(since, lastAnswer.get(client) ?? 0);
      if (quiet >= ms) reject(new Error(`no answer within ${ms} ms`));
      else timer = setTimeout(check, ms - quiet);
    };
    timer = setTimeout(check, ms);
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Sends the request in `slot` to one link; resolves true when every write was acknowledged. */
async function sendTo(link: number, words: Int32Array, bytes: Uint8Array, slot: number): Promise<boolean> {
  const client = clients[link];
  if (client === undefined) return false;
  const base = slot * CHANNEL_WORDS;
  const slotBytes = Atomics.load(words, base + CHANNEL_WORD.SLOT_BYTES);
  const count = Atomics.load(words, base + CHANNEL_WORD.UNIT_COUNT);
  const dataBase = bytes.byteOffset + slot * LINK_BATCH_BYTES;
  const descriptors: LinkDescriptor[] = [];
  for (let i = 0; i < count; i++) {
    const at = base + CHANNEL_WORD.DESCRIPTORS + i * DESCRIPTOR_WORDS;
    descriptors.push({
      unit: words[at + DESCRIPTOR_FIELD.UNIT] ?? 0,
      dataOffset: words[at + DESCRIPTOR_FIELD.DATA_OFFSET] ?? 0,
      dataLength: words[at + DESCRIPTOR_FIELD.DATA_LENGTH] ?? 0,
      zeroTail: words[at + DESCRIPTOR_FIELD.ZERO_TAIL] ?? 0,
    });
  }
  const plan = planLinkRequests(descriptors, slotBytes);
  // A view of the slot, not a copy: the slot is not reused before this request is done.
  const send = (w: LinkWrite): Promise<void> =>
    w.kind === 'write'
      ? client.write(w.offsetBytes, Buffer.from(bytes.buffer, dataBase + w.dataOffset, w.length))
      : client.writeZeroes(w.offsetBytes, w.length);
  try {
    // The fills first, answered: the WRITEs of their runs overlap them (link-requests.ts).
    if (plan.fills.length > 0) await answeredBy(client, plan.fills.map(send));
    await answeredBy(client, plan.writes.map(send));
    return true;
  } catch (error) {
    // A later request of the same connection fails too: the link is dropped once, not again after a reconnect.
    if (clients[link] === client) drop(link, error instanceof Error ? error.message : String(error));
    else client.destroy();
    return false;
  }
}

/** Resolves once every one of `writes` is answered; rejects on a failure, or once `client` stops answering. */
async function answeredBy(client: NbdClient, writes: readonly Promise<void>[]): Promise<void> {
  const sentAt = Date.now();
  const answered = writes.map((w) => w.then(() => void lastAnswer.set(client, Date.now())));
  for (const w of answered) w.catch(() => undefined);
  await untilAnswered(Promise.all(answered), client, sentAt, timeoutMs);
}

/** Serves the request of `seq` in `slot`: every addressed link answers or fails, then DONE_SEQ. */
async function serve(words: Int32Array, bytes: Uint8Array, slot: number, seq: number): Promise<void> {
  const base = slot * CHANNEL_WORDS;
  const mask = Atomics.load(words, base + CHANNEL_WORD.LINK_MASK);
  const links = [...Array(MAX_SECONDARIES).keys()].filter((l) => (mask & (1 << l)) !== 0);
  const results = await Promise.all(links.map((l) => sendTo(l, words, bytes, slot)));
  let failed = 0;
  links.forEach((l, i) => {
    if (!results[i]) failed |= 1 << l;
  });
  Atomics.store(words, base + CHANNEL_WORD.FAILED_MASK, failed);
  Atomics.store(words, base + CHANNEL_WORD.DONE_SEQ, seq);
  Atomics.notify(words, base + CHANNEL_WORD.DONE_SEQ);
}

async function serveRequests(words: Int32Array, bytes: Uint8Array): Promise<void> {
  let seq = 0;
  let slot = 0;
  // Runs for the worker's life: each turn sends one request, in the order they were posted.
  for (;;) {
    seq = nextRequestSeq(seq);
    const at = slot * CHANNEL_WORDS + CHANNEL_WORD.REQUEST_SEQ;
    // Bounded by the owning thread: waits until it posts the next request (one posted before
    // this worker started is already there).
    for (;;) {
      const posted = Atomics.load(words, at);
      if (posted === seq) break;
      const wait = waitAsync(words, at, posted);
      if (wait.async) await wait.value;
    }
    // Not awaited: the next request is sent without waiting for this one's answers.
    void serve(words, bytes, slot, seq);
    slot = (slot + 1) % LINK_SLOTS;
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
