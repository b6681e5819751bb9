// The package as a library: the typed client and the simulator, for scripts and tests outside
// Node-RED. Node-RED itself loads the nodes through package.json `node-red.nodes`.
export { JetstreamClient, parseRetryAfter } from './client';
export type { ApiResult, CallOptions, ClientOptions, DeleteEvents, EventFilter } from './client';
export { JetstreamError, isJetstreamError } from './errors';
export type { JetstreamErrorCode } from './errors';
export { EventHub, AccountMemory, SeenWindow } from './event-hub';
export { parseCredentialChange, applyCredentialChange } from './credentials';
export { checkDeviceName, checkDevices, checkAccountUrl } from './validate';
export { startSimulator } from './simulator';
export type { Simulator, SimulatorOptions, Faults } from './simulator';
export * from './types';
