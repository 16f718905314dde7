/**
 * Connection slots of the control API, with clients that have not yet made an admitted request
 * kept apart.
 *
 * Every connection starts *pending*: it sits in a small pool of its own with a short deadline, and
 * takes one of the MAX_CONTROL_CONNECTIONS admitted slots only with its first request that may be
 * served (`admit`): on a TCP listener, one that carries the valid bearer token; on a unix socket,
 * any request (the socket file, mode 0600, is the credential). Which connection a full pool drops is
 * the servers' one rule (base/connection-eviction.ts), as the NBD server's: when the pending pool is
 * full, the one longest in its handshake (the oldest pending) goes to make room for the newcomer;
 * when the admitted slots are full, a newly admitted request takes the slot of the connection that
 * has been idle longest between requests (a kept-alive connection, or one whose request stalls
 * part-way through its body; not one with a received request or an event stream in progress), and
 * only when every admitted connection is at work is it refused (TOO_MANY). So clients that connect
 * and never send, connect and close at once, sit idle, or stall in a request's body, however many
 * and however fast, never keep a new client from being heard: a client that sends its request at
 * once (as every real one does) is admitted long before it could become the oldest.
 *
 * Invariants: a socket is in at most one of the two pools; a pending socket is destroyed at its
 * deadline; pools never exceed their limits; a closed socket leaves its pool.
 */
import type { Socket } from 'node:net';
import { connectionToEvict, type EvictionCandidate } from '../base/connection-eviction.js';

/** Simultaneous admitted control connections: a few CLIs, event streams and tests. */
export const MAX_CONTROL_CONNECTIONS = 64;
/**
 * Connections that have not made an admitted request yet; beyond this the oldest one is dropped.
 * It is also how many connections must come after an honest one before its request is read for
 * it to be dropped: against a process that reconnects at once each connection dropped (some 15,000
 * connections a second here), 64 left an honest client about 4 ms, and one of some 450 was lost
 * (control-churn test); 256 leave it about 17 ms, for 256 sockets of a few KiB each.
 */
export const MAX_PENDING_CONTROL_CONNECTIONS = 256;
/** A connection must make its first request within this time: a real client sends it at once. */
export const PENDING_DEADLINE_MS = 2_000;

/** One connection: where it is, and whether a request is in progress on it. */
class Slot implements EvictionCandidate {
  // Main thread only.
  admitted = false;
  /** Requests (and event streams) in progress on the connection, each as whether it has all arrived. */
  readonly inProgress = new Set<() => boolean>();
  /** When the connection came, or when its last request began or ended. */
  since = Date.now();
  timer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Socket) {}

  get inHandshake(): boolean {
    return !this.admitted;
  }

  /**
   * At work (undefined) while a request that has all arrived is in progress: the server owes it an
   * answer. A request whose body is still on its way waits for its client, as a connection between
   * requests does: idle since the request began.
   */
  get idleSince(): number | undefined {
    for (const arrived of this.inProgress) if (arrived()) return undefined;
    return this.since;
  }
}

export class ControlConnections {
  // Main thread only. Map order is arrival order, so the first key is the oldest pending socket.
  private readonly pending = new Map<Socket, Slot>();
  private readonly admitted = new Map<Socket, Slot>();

  get pendingCount(): number {
    return this.pending.size;
  }

  get admittedCount(): number {
    return this.admitted.size;
  }

  /** A new connection: pending; when the pool is full, the one longest in it is dropped (or, all at work, the newcomer). */
  accept(socket: Socket): void {
    socket.once('close', () => this.forget(socket));
    if (this.pending.size >= MAX_PENDING_CONTROL_CONNECTIONS) {
      const victim = connectionToEvict(this.pending.values());
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      this.drop(victim.socket);
    }
    const slot = new Slot(socket);
    slot.timer = setTimeout(() => this.drop(socket), PENDING_DEADLINE_MS);
    this.pending.set(socket, slot);
  }

  /**
   * A request begins on the connection (whether or not it will be admitted); `arrived` says whether
   * all of it (its body) has been received; the returned function ends it. A connection with a
   * request in progress that has all arrived is at work: it is never the one dropped. One whose
   * request stalls part-way through its body waits for its client, and may be.
   */
  requestStarted(socket: Socket, arrived: () => boolean): () => void {
    const slot = this.pending.get(socket) ?? this.admitted.get(socket);
    if (slot === undefined) return () => undefined;
    const entry = (): boolean => arrived();
    slot.inProgress.add(entry);
    slot.since = Date.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      slot.inProgress.delete(entry);
      slot.since = Date.now();
    };
  }

  /**
   * The connection made a request that may be served: it takes an admitted slot, in the place of
   * the one idle longest when all are taken; false when every admitted connection is at work.
   */
  admit(socket: Socket): boolean {
    if (this.admitted.has(socket)) return true;
    const slot = this.pending.get(socket);
    if (slot === undefined) return false; // Closed meanwhile.
    if (this.admitted.size >= MAX_CONTROL_CONNECTIONS) {
      const victim = connectionToEvict(this.admitted.values());
      if (victim === undefined) return false;
      this.drop(victim.socket);
    }
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.admitted = true;
    this.pending.delete(socket);
    this.admitted.set(socket, slot);
    return true;
  }

  isAdmitted(socket: Socket): boolean {
    return this.admitted.has(socket);
  }

  /** Drops every pending connection (used when the listener closes: they have no business left). */
  dropPending(): void {
    for (const socket of [...this.pending.keys()]) this.drop(socket);
  }

  private drop(socket: Socket): void {
    this.forget(socket);
    socket.destroy();
  }

  private forget(socket: Socket): void {
    const slot = this.pending.get(socket);
    if (slot?.timer !== undefined) clearTimeout(slot.timer);
    this.pending.delete(socket);
    this.admitted.delete(socket);
  }
}
