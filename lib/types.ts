// Wire types of the Jetstream v3 API (see shared/reference/jetstream-api.md). Events are open
// records: unknown types and extra fields pass through untouched.

export interface KeyValue {
  Key: string;
  Value: string;
}

/** The body every device command answers with (sync, reset, lockdown, ...). */
export interface CommandResponse {
  CommandId: string;
  Status: 'Completed' | 'Queued' | string;
  ExceptionList: KeyValue[];
  OutputParameterList: KeyValue[];
  [extra: string]: unknown;
}

export interface JetstreamEvent {
  Type: string;
  EventId: string;
  EventTime: string;
  Version?: number;
  Device?: string;
  [extra: string]: unknown;
}

export interface CommandCompletionEvent extends JetstreamEvent {
  Type: 'CommandCompletionEvent';
  CommandId: string;
  CommandName?: string;
  ExceptionList: KeyValue[];
  OutputParameterList: KeyValue[];
}

export interface EventBatch {
  BatchId: string;
  Count: number;
  Events: JetstreamEvent[];
}

export interface Device {
  Id?: number;
  Name: string;
  [extra: string]: unknown;
}

export type CredentialType = 'Basic' | 'User' | 'Pin';

/** The v3 event types documented by Terso (plus SDK-only ones); others may appear. */
export const KNOWN_EVENT_TYPES = [
  'AggregateEvent',
  'ObjectEvent',
  'HeartbeatEvent',
  'SensorReadingEvent',
  'LogEntryEvent',
  'StatusEvent',
  'BusinessProcessEvent',
  'CommandQueuedEvent',
  'CommandCompletionEvent',
  'DeviceAddedEvent',
  'DeviceModifiedEvent',
  'DeviceRemovedEvent',
  'AliasAddedEvent',
  'AliasModifiedEvent',
  'AliasRemovedEvent',
  'DeviceCredentialsAddedEvent',
  'DeviceCredentialsModifiedEvent',
  'DeviceCredentialsRemovedEvent',
] as const;
