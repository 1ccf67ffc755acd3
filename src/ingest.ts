import type { Decider } from './before/decide';
import { keyReader, type CommandEntry, type CommandKind } from './catalogue/catalogue';
import type { BuiltRecord, CallbackInput, Decision, RecordBuilder } from './catalogue/records';
import { BridgeError, isBridgeError } from './errors';
import type { RecordEncoder } from './kafka/codec';
import type { OutgoingRecord } from './kafka/publisher';
import type { DeliveryOutcome } from './spool/delivery';
import { DLQ_HEADERS, HEADER_COMMAND, HEADER_SDKAPPID } from './record-headers';
import type { Envelope } from './tencent/callback';
import { parseJsonBody } from './tencent/parse';
import { parseCallbackQuery, type CallbackQuery } from './tencent/query';

/** Where one command goes and how its records are made (see src/catalogue). */
export interface CommandRoute {
  /** The catalogued command, or undefined for a command the catalogue does not know. */
  entry: CommandEntry | undefined;
  /** The metric label: the command, or `other`. */
  label: string;
  kind: CommandKind;
  /** null: off (answered as usual, not stored). */
  topic: string | null;
  build: RecordBuilder;
  /** Present when the route stores records. */
  encoder: RecordEncoder | undefined;
}

export interface Routing {
  route(command: string): CommandRoute;
}

export interface IngestDeps {
  routing: Routing;
  decider: Decider;
  dlqTopic: string;
  /** Makes a record durable (Kafka or the spool); rejects when it cannot. */
  deliver: (record: OutgoingRecord) => Promise<DeliveryOutcome>;
}

export interface IncomingCallback {
  /** The query as parsed by the HTTP layer (values may be strings or arrays). */
  query: Record<string, unknown>;
  /** The raw query string, kept with dead letters and forwarded to the decision service. */
  rawQuery: string;
  body: Uint8Array;
  /** Unix milliseconds */
  receivedAt: number;
}

export type IngestResult =
  /** Made durable (every record of it): answer OK. */
  | { outcome: DeliveryOutcome; route: CommandRoute; records: number }
  /** Routed off: answer OK, nothing stored. */
  | { outcome: 'off'; route: CommandRoute }
  /** Refused, and kept raw in the dead-letter topic. */
  | { outcome: 'dlq'; refusal: BridgeError; route: CommandRoute | undefined }
  /**
   * A before-callback: answer `decision.Reply` now; `publish()` afterwards stores the callback
   * with its decision (never before the reply: the reply does not wait on Kafka).
   */
  | {
      outcome: 'decided';
      route: CommandRoute;
      decision: Decision;
      publish: () => Promise<DeliveryOutcome | 'off'>;
    };

/**
 * The bridge's use case, for an authenticated request. An after-callback becomes its record(s),
 * made durable (Kafka, or the spool when Kafka is slow) before the result; a before-callback is
 * decided (allow, or the decision service) and stored after the reply. A body that is JSON but not
 * a valid callback of its command goes raw to the dead-letter topic and the result says why; a body
 * that is not JSON is refused (thrown) and kept nowhere. Throws a BridgeError when a record cannot
 * be made durable.
 */
export function createIngest(deps: IngestDeps) {
  return async function ingest(incoming: IncomingCallback): Promise<IngestResult> {
    let json: unknown;
    let query: CallbackQuery | undefined;
    let route: CommandRoute | undefined;
    let input: CallbackInput;
    try {
      json = parseJsonBody(incoming.body); // not JSON (malformed_json): thrown, never stored
      query = parseCallbackQuery(incoming.query);
      route = deps.routing.route(query.CallbackCommand);
      input = {
        json,
        body: incoming.body,
        command: query.CallbackCommand,
        envelope: envelopeOf(query, incoming.receivedAt),
      };
    } catch (err) {
      return deadLettered(err, json, incoming, route, query ?? queryIfValid(incoming.query));
    }
    const r = route;
    const q = query;

    if (r.kind === 'before') {
      const decision = await deps.decider.decide(
        q.CallbackCommand,
        incoming.rawQuery,
        incoming.body,
      );
      const publish = async (): Promise<DeliveryOutcome | 'off'> => {
        if (r.topic === null) return 'off';
        return deliverAll(r, q, r.build({ ...input, decision }));
      };
      return { outcome: 'decided', route: r, decision, publish };
    }

    if (r.topic === null) return { outcome: 'off', route: r };
    let built: BuiltRecord[];
    try {
      built = r.build(input);
    } catch (err) {
      return deadLettered(err, json, incoming, r, q);
    }
    return { outcome: await deliverAll(r, q, built), route: r, records: built.length };
  };

  async function deliverAll(
    route: CommandRoute,
    query: CallbackQuery,
    built: BuiltRecord[],
  ): Promise<DeliveryOutcome> {
    const encoder = route.encoder as RecordEncoder;
    const headers = { [HEADER_COMMAND]: query.CallbackCommand, [HEADER_SDKAPPID]: query.SdkAppid };
    const records: OutgoingRecord[] = built.map((b) => ({
      topic: route.topic as string,
      key: b.key ?? query.SdkAppid,
      value: encoder.encode(b.value),
      headers,
    }));
    if (records.length === 1) return deps.deliver(records[0] as OutgoingRecord);
    const outcomes = await Promise.all(records.map((rec) => deps.deliver(rec)));
    return outcomes.every((o) => o === 'kafka') ? 'kafka' : 'spooled';
  }

  async function deadLettered(
    err: unknown,
    json: unknown,
    incoming: IncomingCallback,
    route: CommandRoute | undefined,
    query: CallbackQuery | undefined,
  ): Promise<IngestResult> {
    if (!isBridgeError(err) || err.status !== 400 || err.reason === 'malformed_json') throw err;
    await deps.deliver(deadLetter(json, incoming, err, route, query));
    return { outcome: 'dlq', refusal: err, route };
  }

  function deadLetter(
    json: unknown,
    incoming: IncomingCallback,
    err: BridgeError,
    route: CommandRoute | undefined,
    query: CallbackQuery | undefined,
  ): OutgoingRecord {
    // the key its record would have had (To_Account for C2C messages), when the body names it
    const key = route?.entry ? keyReader(route.entry.key)(json) : null;
    const headers: Record<string, string> = {
      [DLQ_HEADERS.reason]: err.reason,
      [DLQ_HEADERS.error]: err.message,
      [DLQ_HEADERS.query]: withoutSign(incoming.rawQuery),
      [DLQ_HEADERS.receivedAt]: String(incoming.receivedAt),
    };
    if (err.field !== undefined) headers[DLQ_HEADERS.field] = err.field;
    if (query !== undefined) headers[HEADER_COMMAND] = query.CallbackCommand;
    return {
      topic: deps.dlqTopic,
      key,
      value: Buffer.from(incoming.body),
      headers,
    };
  }
}

export type Ingest = ReturnType<typeof createIngest>;

/** The query when it is valid (for the command header of a body refused before it was read). */
function queryIfValid(query: Record<string, unknown>): CallbackQuery | undefined {
  try {
    return parseCallbackQuery(query);
  } catch {
    return undefined;
  }
}

function envelopeOf(query: CallbackQuery, receivedAt: number): Envelope {
  return {
    SdkAppid: query.SdkAppid,
    OptPlatform: query.OptPlatform ?? null,
    ClientIP: query.ClientIP ?? null,
    ReceivedAt: receivedAt,
  };
}

/** The query string without `Sign`: a dead letter must not help anyone brute-force the token. */
export function withoutSign(rawQuery: string): string {
  return rawQuery
    .split('&')
    .filter((p) => !/^sign(=|$)/i.test(p))
    .join('&');
}
