/**
 * The face of session/: the one session shape, its state table, events and track map view. It re-exports what other folders use; a module inside session/ imports its
 * neighbours directly.
 */
export { readFinishedMap, writeFinishedMap } from './finished-map.js';
export { HostWriteRecorder } from './host-write-recorder.js';
export { onlyArgs, stringArg, unknownVerb } from './session-args.js';
export { SessionEvents } from './session-events.js';
export { FINAL_STATES, SESSION_TRANSITIONS, type SessionState, type SessionVerb, transition } from './session-state.js';
export { type TrackCode, type TrackCodeName, type TrackMapSnapshot, buildTrackMap, legendFor, mapShape } from './session-view.js';
export { SESSION_KINDS, type Session, type SessionArgs, type SessionFailure, type SessionKind, type SessionListener, type SessionStatus } from './session.js';
