export { createNearbyEngine } from './engine.js';
export type { NearbyEngine, NearbyEngineState, NearbyEngineStats, EngineSession, DrainOptions } from './engine.js';
export type { NearbyEngineOptions } from './engine-options.js';
export type { ServerSocket } from './connection.js';
export type { CoreCounters } from './context.js';
export type { Timers } from '../timers.js';
export type { NearbyTelemetry, TelemetrySource, AdapterName, AdapterHealth } from './telemetry.js';
