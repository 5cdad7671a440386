export { createNearbyEngine } from './engine.js';
export type { NearbyEngine, NearbyEngineState, NearbyEngineStats, EngineSession, DrainOptions } from './engine.js';
export type { StrangerStats } from './strangers.js';
export type { NearbyEngineOptions, StrangersOptions, StrangerIdentity } from './engine-options.js';
export type { ServerSocket } from './connection.js';
export type { CoreCounters } from './context.js';
export type { Timers } from '../timers.js';
export type { EngineLog, AuthRefusal } from './logging.js';
export type {
  AdapterName,
  AdapterHealth,
  LogLevel,
  LogMethod,
  LogEventName,
  NearbyLogger,
  NearbyTelemetry,
  TelemetrySource,
} from './telemetry.js';
