// Local Jetstream v3 simulator (tests, benchmarks, demo). See lib/simulator/api.ts for the types.

export type {
  DeviceOptions,
  DeviceSpec,
  Faults,
  PublishInput,
  RequestLogEntry,
  SimDeviceInfo,
  Simulator,
  SimulatorOptions,
  SimulatorStats,
} from './api';
export { DEFAULT_ACCESS_KEY, jetstreamTime, parseDeviceSpec, startSimulator } from './server';
