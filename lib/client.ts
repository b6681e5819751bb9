// The typed Jetstream v3 client: the only place in the package that speaks HTTP.
import http from 'node:http';
import https from 'node:https';
import axios, { AxiosInstance, AxiosProxyConfig, AxiosResponse } from 'axios';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';
import { JetstreamError, codeForStatus } from './errors';
import { checkAccountUrl, checkDeviceName } from './validate';
import type { CommandResponse, CredentialType, Device, EventBatch } from './types';

export interface ClientOptions {
  /** API root, e.g. https://api.jetstreamrfid.com; the client adds /3/. */
  url: string;
  accessKey: string;
  /** Per-request timeout, ms. */
  timeout?: number;
  /** Retries for network errors, 5xx and 429. */
  retries?: number;
  /** First backoff step, ms (doubles per retry, with jitter). */
  retryBaseMs?: number;
  /** Longest backoff step, ms. */
  retryMaxMs?: number;
  /** A Retry-After longer than this is not waited for inside one call: the error is returned. */
  maxRetryAfterMs?: number;
  /** Extra trusted CA certificate(s), PEM, for a private HTTPS endpoint. Verification stays on. */
  ca?: string | Buffer | Array<string | Buffer>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ApiResult<T> {
  statusCode: number;
  body: T;
}

export type EventFilter = { type?: string; device?: string };
export type DeleteEvents = { batchId: string } | { eventIds: string[] };

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  /** What the call does, for error messages: "sync credentials". */
  what: string;
  device?: string;
  data?: unknown;
  params?: Record<string, string>;
  signal?: AbortSignal;
}

const USER_AGENT = 'node-red-contrib-jetstream-rfid';

export class JetstreamClient {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly accessKey: string;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly agents: Array<http.Agent>;

  constructor(options: ClientOptions) {
    const url = checkAccountUrl(options.url);
    if (typeof options.accessKey !== 'string' || options.accessKey.trim() === '') {
      throw new JetstreamError('JETSTREAM_UNAUTHORIZED', 'No access key is set on the account.');
    }
    this.accessKey = options.accessKey.trim();
    this.baseUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}/3`;
    this.retries = Math.max(0, Math.floor(options.retries ?? 3));
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;

    const httpAgent = new http.Agent({ keepAlive: true });
    let httpsAgent: https.Agent = new https.Agent({ keepAlive: true, ca: options.ca });
    let proxy: AxiosProxyConfig | false = false;
    // Standard HTTP_PROXY / HTTPS_PROXY / NO_PROXY, resolved once: the base URL is fixed.
    const proxyUrl = getProxyForUrl(this.baseUrl);
    if (proxyUrl) {
      if (url.protocol === 'https:') {
        httpsAgent = new HttpsProxyAgent(proxyUrl, { keepAlive: true, ca: options.ca });
      } else {
        const p = new URL(proxyUrl);
        proxy = {
          protocol: p.protocol.replace(':', ''),
          host: p.hostname,
          port: Number(p.port) || (p.protocol === 'https:' ? 443 : 80),
          auth: p.username
            ? {
                username: decodeURIComponent(p.username),
                password: decodeURIComponent(p.password),
              }
            : undefined,
        };
      }
    }
    this.agents = [httpAgent, httpsAgent];
    this.http = axios.create({
      baseURL: this.baseUrl,
      timeout: options.timeout ?? 30_000,
      httpAgent,
      httpsAgent,
      proxy,
      // A redirect would carry the AccessKey header to wherever it points: never follow one.
      maxRedirects: 0,
      // Statuses and bodies are judged here, so that no axios error (which holds the request
      // headers, key included) ever leaves this module.
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      headers: {
        AccessKey: this.accessKey,
        Accept: 'application/json',
        'User-Agent': USER_AGENT,
      },
    });
  }

  /** POST /3/devices/{device}/credentials/sync: tell the device to sync its access list. */
  async syncCredentials(
    device: string,
    opts: CallOptions = {},
  ): Promise<ApiResult<CommandResponse>> {
    const name = checkDeviceName(device);
    const res = await this.request<unknown>({
      method: 'POST',
      path: `/devices/${encodeURIComponent(name)}/credentials/sync`,
      what: 'sync credentials',
      device: name,
      signal: opts.signal,
    });
    if (!isObject(res.body) || typeof res.body.CommandId !== 'string') {
      throw this.badBody('sync credentials', res.statusCode, 'no CommandId in the answer', name);
    }
    return res as ApiResult<CommandResponse>;
  }

  /** GET /3/devices/{device}/credentials/sync: time of the device's last sync, or null. */
  async getLastSync(device: string, opts: CallOptions = {}): Promise<ApiResult<string | null>> {
    const name = checkDeviceName(device);
    const res = await this.request<unknown>({
      method: 'GET',
      path: `/devices/${encodeURIComponent(name)}/credentials/sync`,
      what: 'get last sync',
      device: name,
      signal: opts.signal,
    });
    if (res.body !== null && typeof res.body !== 'string') {
      throw this.badBody('get last sync', res.statusCode, 'expected a time string or null', name);
    }
    return res as ApiResult<string | null>;
  }

  /** GET /3/events/{limit}: the oldest pending events, without removing them. */
  async getEvents(
    limit: number,
    filter: EventFilter = {},
    opts: CallOptions = {},
  ): Promise<EventBatch> {
    const params: Record<string, string> = {};
    if (filter.type) params.type = filter.type;
    if (filter.device) params.device = filter.device;
    const res = await this.request<unknown>({
      method: 'GET',
      path: `/events/${limit}`,
      what: 'get events',
      params,
      signal: opts.signal,
    });
    const body = res.body;
    if (!isObject(body) || !Array.isArray(body.Events)) {
      throw this.badBody('get events', res.statusCode, 'no Events array in the answer');
    }
    if (body.Events.length > 0 && typeof body.BatchId !== 'string') {
      throw this.badBody('get events', res.statusCode, 'events without a BatchId');
    }
    return body as unknown as EventBatch;
  }

  /** DELETE /3/events: remove a fetched batch (or up to 100 events by id) from the queue. */
  async deleteEvents(which: DeleteEvents, opts: CallOptions = {}): Promise<void> {
    const data = 'batchId' in which ? { BatchId: which.batchId } : { EventIds: which.eventIds };
    await this.request({
      method: 'DELETE',
      path: '/events',
      what: 'delete events',
      data,
      signal: opts.signal,
    });
  }

  /** GET /3/devices: the devices of the application. */
  async listDevices(opts: CallOptions = {}): Promise<Device[]> {
    const res = await this.request<unknown>({
      method: 'GET',
      path: '/devices',
      what: 'list devices',
      signal: opts.signal,
    });
    if (!Array.isArray(res.body)) {
      throw this.badBody('list devices', res.statusCode, 'expected an array of devices');
    }
    return res.body as Device[];
  }

  /** The device's stored credential list (ids only), GET /3/devices/{d}/credentials/{type}. */
  async getCredentials(
    device: string,
    type: CredentialType,
    opts: CallOptions = {},
  ): Promise<string[]> {
    return this.credentialCall('GET', device, type, undefined, 'get credentials', opts);
  }

  /** POST: append to the stored list. Basic: array of values; User/Pin: {id: secret}. */
  async addCredentials(
    device: string,
    type: CredentialType,
    values: string[] | Record<string, string>,
    opts: CallOptions = {},
  ): Promise<string[]> {
    return this.credentialCall('POST', device, type, values, 'add credentials', opts);
  }

  /** PUT: the stored list becomes exactly `values` ([] or {} clears it). */
  async replaceCredentials(
    device: string,
    type: CredentialType,
    values: string[] | Record<string, string>,
    opts: CallOptions = {},
  ): Promise<string[]> {
    return this.credentialCall('PUT', device, type, values, 'replace credentials', opts);
  }

  /** DELETE with a body of ids to remove; PATCH if a gateway refuses DELETE bodies. */
  async removeCredentials(
    device: string,
    type: CredentialType,
    ids: string[],
    opts: CallOptions = {},
  ): Promise<void> {
    try {
      await this.credentialCall('DELETE', device, type, ids, 'remove credentials', opts);
    } catch (err) {
      // 405/415: something on the way refused a DELETE with a body; v3 accepts PATCH instead.
      if (err instanceof JetstreamError && (err.statusCode === 405 || err.statusCode === 415)) {
        await this.credentialCall('PATCH', device, type, ids, 'remove credentials', opts);
        return;
      }
      throw err;
    }
  }

  /** Frees the keep-alive sockets. */
  close(): void {
    for (const agent of this.agents) agent.destroy();
  }

  private async credentialCall(
    method: RequestSpec['method'],
    device: string,
    type: CredentialType,
    data: unknown,
    what: string,
    opts: CallOptions,
  ): Promise<string[]> {
    const name = checkDeviceName(device);
    const res = await this.request<unknown>({
      method,
      path: `/devices/${encodeURIComponent(name)}/credentials/${type}`,
      what,
      device: name,
      data,
      signal: opts.signal,
    });
    if (res.statusCode === 204 || res.body === null) return [];
    if (!Array.isArray(res.body) || !res.body.every((v) => typeof v === 'string')) {
      throw this.badBody(what, res.statusCode, 'expected a list of credential ids', name);
    }
    return res.body as string[];
  }

  /** One API call with retries; resolves with the parsed body of a 2xx answer. */
  private async request<T>(spec: RequestSpec): Promise<ApiResult<T>> {
    for (let attempt = 0; ; attempt++) {
      let err: JetstreamError;
      try {
        return await this.once<T>(spec);
      } catch (e) {
        err = e as JetstreamError;
      }
      // An unreadable 2xx was still answered (and acted on): resending a POST would repeat it.
      const answered2xx = err.statusCode !== undefined && err.statusCode < 300;
      const retryable =
        !err.aborted &&
        !answered2xx &&
        (err.code === 'JETSTREAM_NETWORK' ||
          err.code === 'JETSTREAM_SERVER_ERROR' ||
          err.code === 'JETSTREAM_RATE_LIMITED');
      if (!retryable || attempt >= this.retries) throw err;
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.maxRetryAfterMs) throw err;
      await sleep(Math.max(this.backoffMs(attempt), err.retryAfterMs ?? 0), spec.signal, spec);
    }
  }

  /** Exponential backoff with jitter: base * 2^attempt, then a random 50-100% of it. */
  backoffMs(attempt: number): number {
    const step = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** attempt);
    return Math.round(step * (0.5 + Math.random() * 0.5));
  }

  private async once<T>(spec: RequestSpec): Promise<ApiResult<T>> {
    if (spec.signal?.aborted) throw aborted(spec);
    let res: AxiosResponse<string>;
    try {
      res = await this.http.request<string>({
        method: spec.method,
        url: spec.path,
        params: spec.params,
        data: spec.data === undefined ? undefined : JSON.stringify(spec.data),
        headers: spec.data === undefined ? undefined : { 'Content-Type': 'application/json' },
        signal: spec.signal,
      });
    } catch (e) {
      if (spec.signal?.aborted || axios.isCancel(e)) throw aborted(spec);
      throw this.networkError(e, spec);
    }
    const status = res.status;
    const text = typeof res.data === 'string' ? res.data : '';
    if (status >= 200 && status < 300) {
      if (status === 204 || text.trim() === '') return { statusCode: status, body: null as T };
      try {
        return { statusCode: status, body: JSON.parse(text) as T };
      } catch {
        throw this.badBody(spec.what, status, describeGarbage(res), spec.device);
      }
    }
    const code = status >= 300 && status < 400 ? 'JETSTREAM_BAD_REQUEST' : codeForStatus(status);
    const detail =
      status >= 300 && status < 400
        ? `redirect to ${this.scrub(String(res.headers.location ?? '?'))} not followed; check the URL`
        : this.errorText(text, res);
    throw new JetstreamError(
      code,
      `${this.prefix(spec)}: HTTP ${status}${detail ? `: ${detail}` : ''}`,
      {
        statusCode: status,
        device: spec.device,
        retryAfterMs:
          status === 429 || status === 503
            ? parseRetryAfter(res.headers['retry-after'])
            : undefined,
      },
    );
  }

  private prefix(spec: { what: string; device?: string }): string {
    return spec.device === undefined
      ? `Jetstream ${spec.what} failed`
      : `Jetstream ${spec.what} for device "${spec.device}" failed`;
  }

  /** Jetstream's {Message, ModelState} text, else a short piece of the raw body. */
  private errorText(text: string, res: AxiosResponse<string>): string {
    let out = '';
    try {
      const body: unknown = JSON.parse(text);
      if (typeof body === 'string') out = body;
      else if (isObject(body)) {
        const parts: string[] = [];
        if (typeof body.Message === 'string') parts.push(body.Message);
        if (isObject(body.ModelState)) {
          for (const [field, msgs] of Object.entries(body.ModelState)) {
            parts.push(`${field}: ${Array.isArray(msgs) ? msgs.join(' ') : String(msgs)}`);
          }
        }
        out = parts.join(' ');
      }
    } catch {
      out = /html/i.test(String(res.headers['content-type']))
        ? 'an HTML page instead of JSON'
        : text.slice(0, 200);
    }
    return this.scrub(out.trim());
  }

  private badBody(what: string, status: number, why: string, device?: string): JetstreamError {
    return new JetstreamError(
      'JETSTREAM_SERVER_ERROR',
      `${this.prefix({ what, device })}: unexpected answer (HTTP ${status}, ${why})`,
      { statusCode: status, device },
    );
  }

  private networkError(e: unknown, spec: RequestSpec): JetstreamError {
    const code = (e as { code?: string }).code;
    let why: string;
    if (code === 'ECONNABORTED' || code === 'ETIMEDOUT')
      why = `no answer within ${this.http.defaults.timeout} ms`;
    else if (code === 'ECONNREFUSED') why = `connection refused by ${this.host()}`;
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = `host ${this.host()} not found`;
    else if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_BAD_RESPONSE')
      why = 'connection reset';
    else if (typeof code === 'string' && /CERT|SSL|TLS|SELF_SIGNED/i.test(code)) {
      why = `TLS certificate not trusted (${code}); for a private CA, start Node-RED with NODE_EXTRA_CA_CERTS=<ca.pem>`;
    } else why = code ?? 'network error';
    return new JetstreamError('JETSTREAM_NETWORK', this.scrub(`${this.prefix(spec)}: ${why}`), {
      device: spec.device,
    });
  }

  private host(): string {
    return new URL(this.baseUrl).host;
  }

  /** Belt and braces: whatever text reaches an error, the key is never in it. */
  private scrub(text: string): string {
    return text.split(this.accessKey).join('***');
  }
}

function aborted(spec: RequestSpec): JetstreamError {
  return new JetstreamError('JETSTREAM_NETWORK', `Jetstream ${spec.what} aborted`, {
    device: spec.device,
    aborted: true,
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeGarbage(res: AxiosResponse<string>): string {
  const type = String(res.headers['content-type'] ?? '');
  return /html/i.test(type) ? 'an HTML page instead of JSON' : 'the body is not valid JSON';
}

/** Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A delay that ends early, with an abort error, when the signal fires. */
export function sleep(ms: number, signal?: AbortSignal, spec?: RequestSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(spec ? aborted(spec) : signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(spec ? aborted(spec) : signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
