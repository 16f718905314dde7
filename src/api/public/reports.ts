/** `snaptape/reports`: progress events, track maps and HTML reports. */
export { createEventLogger } from '../../base/log.js';
export { LocalEventWriter } from '../../live/progress-events.js';
export { readFinishedMap } from '../../session/finished-map.js';
export { writeReport } from '../html-report.js';
export { renderTrackMapSvg } from '../../live/track-map-svg.js';
export { legendFor, type TrackMapSnapshot } from '../../session/session-view.js';

// Progress of a long command, by phase (copy, SHA-256, verify, …).
export type { OnPhaseProgress, PhaseProgress, ProgressPhase } from '../../base/phase-progress.js';
