/**
 * Connection slots of the control API, with clients that have shown no credential kept apart.
 *
 * On a TCP listener every connection starts *pending*: it sits in a small pool of its own with a
 * short deadline, and takes one of the MAX_CONTROL_CONNECTIONS admitted slots only once a request
 * on it carries the valid bearer token (`admit`). When the pending pool is full, its oldest member
 * is dropped to make room for the newcomer. So clients without a token, however many, never hold
 * an admitted slot, and never keep a new client from being heard: a client that sends its request
 * at once (as every real one does) is admitted long before it could become the oldest.
 * A unix-socket connection is admitted at once: the socket file (mode 0600) is the credential.
 *
 * Invariants: a socket is in at most one of the two pools; a pending socket is destroyed at its
 * deadline; pools never exceed their limits; a closed socket leaves its pool.
 */
import type { Socket } from 'node:net';

/** Simultaneous admitted control connections: a few CLIs, event streams and tests. */
export const MAX_CONTROL_CONNECTIONS = 64;
/** Connections that have not shown a token yet; beyond this the oldest one is dropped. */
export const MAX_PENDING_CONTROL_CONNECTIONS = 64;
/** A connection must show the token within this time: a real client sends it with its first request. */
export const PENDING_DEADLINE_MS = 2_000;

export class ControlConnections {
  // Set once.
  private readonly credentialNeeded: boolean;
  // Main thread only. Map order is arrival order, so the first key is the oldest pending socket.
  private readonly pending = new Map<Socket, NodeJS.Timeout>();
  private readonly admitted = new Set<Socket>();

  constructor(options: { readonly credentialNeeded: boolean }) {
    this.credentialNeeded = options.credentialNeeded;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get admittedCount(): number {
    return this.admitted.size;
  }

  /** A new connection: admitted (no credential needed) or pending; destroyed when there is no room. */
  accept(socket: Socket): void {
    socket.once('close', () => this.forget(socket));
    if (!this.credentialNeeded) {
      if (!this.admit(socket)) socket.destroy();
      return;
    }
    const oldest = this.pending.keys().next();
    if (this.pending.size >= MAX_PENDING_CONTROL_CONNECTIONS && oldest.done !== true) this.drop(oldest.value);
    this.pending.set(
      socket,
      setTimeout(() => this.drop(socket), PENDING_DEADLINE_MS),
    );
  }

  /** The connection showed a valid credential; false when every admitted slot is taken. */
  admit(socket: Socket): boolean {
    if (this.admitted.has(socket)) return true;
    if (this.admitted.size >= MAX_CONTROL_CONNECTIONS) return false;
    this.forget(socket);
    this.admitted.add(socket);
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
    const timer = this.pending.get(socket);
    if (timer !== undefined) clearTimeout(timer);
    this.pending.delete(socket);
    this.admitted.delete(socket);
  }
}
