/**
 * The one rule by which a full server picks the connection it drops to make room for a newcomer
 * (the NBD server, export/nbd-server.ts, and the control API, server/control-connections.ts): a
 * connection waiting for its client, first the one that has been in its handshake longest (an
 * honest client is through it in milliseconds; one that trickles bytes, or never sends, stays in it),
 * else the one that has waited longest after it (for request bytes, or to read a reply; counted from
 * the last byte heard). A connection at work is never picked: when every one works, there is none,
 * and the newcomer is the one refused.
 */

export interface EvictionCandidate {
  /** Still in its handshake: an NBD negotiation; a control connection that has not yet made its first admitted request. */
  readonly inHandshake: boolean;
  /** Since when (ms) it has waited for its client; undefined while it works. */
  readonly idleSince: number | undefined;
}

/** The connection to drop, of `candidates` in arrival order; undefined when every one is at work. */
export function connectionToEvict<T extends EvictionCandidate>(candidates: Iterable<T>): T | undefined {
  let idlest: T | undefined;
  for (const candidate of candidates) {
    const since = candidate.idleSince;
    if (since === undefined) continue;
    // Arrival order: the first one waiting in its handshake has been in it longest.
    if (candidate.inHandshake) return candidate;
    if (idlest === undefined || since < (idlest.idleSince ?? Infinity)) idlest = candidate;
  }
  return idlest;
}
