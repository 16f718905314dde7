/**
 * The face of live/: drawing sessions: track maps, progress events, the live page. It re-exports what other folders use; a module inside live/ imports its
 * neighbours directly.
 */
export { LIVE_PAGE_ASSETS } from './live-page-assets.js';
export { LocalEventWriter } from './progress-events.js';
export { renderTrackMapSvg } from './track-map-svg.js';
