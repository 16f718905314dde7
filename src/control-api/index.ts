/**
 * The face of control-api/: the JSON shapes the control server answers and the control client
 * sends (native-layout/control-api.md), shared by both sides.
 */
export * from './control-api-types.js';
