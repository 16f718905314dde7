/**
 * The event stream of one session (Session.onEvent): a set of listeners, fed from the technique's
 * own EventEmitter events (`bridge`) and from its settling (`endWhen`). A listener that throws
 * breaks nothing: its failure is its own, the others still hear the event.
 *
 * Invariant: `end` is sent once, after the session settled, and nothing is sent after it.
 */
import type { EventEmitter } from 'node:events';
import type { SessionEvent, SessionEventKind, SessionListener } from './session.js';
import type { SessionState } from './session-state.js';

export class SessionEvents {
  // Set once.
  private readonly state: () => SessionState;
  // Main thread only.
  private readonly listeners = new Set<SessionListener>();
  private ended = false;

  constructor(state: () => SessionState) {
    this.state = state;
  }

  /** Forwards each of the emitter's events named in `kinds` as that kind of session event. */
  bridge(emitter: EventEmitter, kinds: Readonly<Record<string, Exclude<SessionEventKind, 'end'>>>): void {
    for (const [name, kind] of Object.entries(kinds)) emitter.on(name, () => this.emit(kind));
  }

  /** Sends `end` once `settled` resolves. */
  endWhen(settled: Promise<void>): void {
    void settled.then(() => {
      this.emit('end');
      this.ended = true;
    });
  }

  add(listener: SessionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(kind: SessionEventKind): void {
    if (this.ended) return;
    const event: SessionEvent = { kind, state: this.state(), atMs: Date.now() };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure (a closed stream) is its own; the others still get the event.
      }
    }
  }
}
