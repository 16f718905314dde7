/**
 * The life of one server-side NBD connection, as a table ("Protocol phases" in proto.md).
 *
 *   greeting      server sent NBDMAGIC/IHAVEOPT, waits for the client flags
 *   negotiating   option haggling (LIST, INFO, GO, EXPORT_NAME, ABORT, ...)
 *   transmission  requests and replies on the chosen export
 *   closing       no more requests are read; queued replies are flushed, then the socket ends
 *   closed        the socket is gone
 *
 * Invariant: every change of state goes through `transition`, which checks it against the table.
 */
import { assert } from '../base/assert.js';

export type NbdConnectionState = 'greeting' | 'negotiating' | 'transmission' | 'closing' | 'closed';

export const NBD_CONNECTION_TRANSITIONS: Readonly<Record<NbdConnectionState, readonly NbdConnectionState[]>> = {
  greeting: ['negotiating', 'closing', 'closed'],
  negotiating: ['transmission', 'closing', 'closed'],
  transmission: ['closing', 'closed'],
  closing: ['closed'],
  closed: [],
};

export function canTransition(from: NbdConnectionState, to: NbdConnectionState): boolean {
  return NBD_CONNECTION_TRANSITIONS[from].includes(to);
}

/** Returns the new state; a transition the table does not allow is a bug. */
export function transition(from: NbdConnectionState, to: NbdConnectionState): NbdConnectionState {
  assert(canTransition(from, to), `NBD connection may go from ${from} to ${to}`);
  return to;
}
