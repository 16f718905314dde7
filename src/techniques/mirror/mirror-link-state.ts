/**
 * The link states of a mirror (issue 7; a state machine is a table). Every change of a
 * mirror's state goes through `linkTransition`, which refuses what the table does not allow.
 *
 *   state          | event      | next          | meaning
 *   ---------------+------------+---------------+-------------------------------------------------
 *   COPY           | copied     | ONGOING       | initial copy done: every track valid
 *   COPY           | linkLost   | SUSPENDED     | the secondary stopped answering
 *   ONGOING        | split      | BACKUP        | frozen at this instant; writes set its invalid bits
 *   ONGOING        | linkLost   | SUSPENDED     | a write timed out or failed: its tracks go invalid
 *   ONGOING        | secondarySplit | BACKUP    | the secondary's server split it (secondary-split.ts)
 *   SUSPENDED      | linkUp     | BACKUP RETURN | reconnected: copy the invalid tracks
 *   SUSPENDED      | secondarySplit | BACKUP    | lost in sync, then refused as split by its server
 *   BACKUP         | rejoin     | BACKUP RETURN | copy the tracks written since the split
 *   BACKUP         | rejoinDown | SUSPENDED     | rejoined while its link is down: connect, then copy
 *   BACKUP RETURN  | copied     | ONGOING       | every invalid track copied
 *   BACKUP RETURN  | linkLost   | SUSPENDED     | the secondary stopped answering mid-resync
 *   any live state | restart    | SUSPENDED     | after a server restart the link starts down
 *   BACKUP         | restart    | BACKUP        | a split mirror stays frozen across a restart
 *
 * "Live" states (COPY, ONGOING, BACKUP RETURN) are those in which host writes are sent to the
 * secondary; in SUSPENDED and BACKUP a write only clears the mirror's validity bits, durably.
 * Decision (`rejoinDown`): a remote mirror rejoined while its link is down (after a restart of the
 * primary in BACKUP, or a secondary that went away while split) waits in SUSPENDED, not BACKUP
 * RETURN, until the link is up: otherwise the first host write would be sent to no connection,
 * "fail", suspend the mirror and start its resync over (found by test/mirror/mirror-crash.test.ts).
 */
import { SessionError } from '../../errors/snaptape-error.js';

export const LINK_STATES = ['COPY', 'ONGOING', 'SUSPENDED', 'BACKUP', 'BACKUP RETURN'] as const;
export type LinkState = (typeof LINK_STATES)[number];
export type LinkEvent = 'copied' | 'split' | 'rejoin' | 'rejoinDown' | 'linkLost' | 'linkUp' | 'restart' | 'secondarySplit';

export const LINK_TRANSITIONS: Readonly<Record<LinkState, Partial<Record<LinkEvent, LinkState>>>> = {
  COPY: { copied: 'ONGOING', linkLost: 'SUSPENDED', restart: 'SUSPENDED' },
  ONGOING: { split: 'BACKUP', linkLost: 'SUSPENDED', restart: 'SUSPENDED', secondarySplit: 'BACKUP' },
  SUSPENDED: { linkUp: 'BACKUP RETURN', restart: 'SUSPENDED', secondarySplit: 'BACKUP' },
  BACKUP: { rejoin: 'BACKUP RETURN', rejoinDown: 'SUSPENDED', restart: 'BACKUP' },
  'BACKUP RETURN': { copied: 'ONGOING', linkLost: 'SUSPENDED', restart: 'SUSPENDED' },
};

/** States in which host writes are sent to the secondary. */
export const LIVE_STATES: ReadonlySet<LinkState> = new Set<LinkState>(['COPY', 'ONGOING', 'BACKUP RETURN']);
/** States in which the background copy runs. */
export const COPYING_STATES: ReadonlySet<LinkState> = new Set<LinkState>(['COPY', 'BACKUP RETURN']);

/** Code of each state in the .mirror file (native-layout/mirror-state-file.md). */
export const LINK_STATE_CODES: Readonly<Record<LinkState, number>> = { COPY: 1, ONGOING: 2, SUSPENDED: 3, BACKUP: 4, 'BACKUP RETURN': 5 };

export function linkStateOfCode(code: number): LinkState | undefined {
  return LINK_STATES.find((s) => LINK_STATE_CODES[s] === code);
}

export function canLinkTransition(state: LinkState, event: LinkEvent): boolean {
  return LINK_TRANSITIONS[state][event] !== undefined;
}

/** The next state, or a SessionError "Cannot <event> mirror M<n> of <volume>: it is <state>". */
export function linkTransition(state: LinkState, event: LinkEvent, where: { volume: string; mirror: string }): LinkState {
  const next = LINK_TRANSITIONS[state][event];
  if (next === undefined) {
    throw new SessionError(`Cannot ${event} mirror ${where.mirror} of ${where.volume}: it is ${state}`, {
      volume: where.volume,
      mirror: where.mirror,
      state,
      event,
    });
  }
  return next;
}
