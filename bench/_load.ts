/**
 * A closed-loop load generator for TLV servers: N connections, each keeping
 * K requests in flight, replies counted straight off the frame reader.
 *
 * The generator is built not to be the bottleneck: requests are encoded once
 * (a ring of {@linkcode RING} frames, stored twice in a row so any run of up
 * to `RING` consecutive requests is one `subarray`), a reply is only checked
 * for its type, and a full decode-and-compare runs on every
 * {@linkcode VERIFY_EVERY}th reply so a server answering errors or garbage
 * fails the run instead of producing a number.
 *
 * This module is also a Worker entry point ({@linkcode LoadWorker}): the
 * bench runs the generator on its own thread so servers and generator each
 * get a core instead of sharing one event loop.
 *
 * @module
 */

import { type Frame } from "../protocol/tlv/frame.ts";
import { FrameReader } from "../protocol/tlv/frame_reader.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import {
  MESSAGES,
  PROTOCOL_VERSION,
  type ServiceName,
} from "../protocol/tlv/registry.ts";

/** Requests in the pre-encoded ring; also the most a connection keeps in flight. */
export const RING = 16;
/** Every this many replies per connection, one is decoded and compared. */
export const VERIFY_EVERY = 1000;
/** Slices a measurement window is cut into by default. */
export const DEFAULT_SLICES = 4;

/**
 * The request mix: expressions with values worked out by hand, so a calc
 * reply is checked against something the server did not compute. The echo
 * workload sends the same bytes as its payload, so both services see
 * requests of the same sizes.
 */
const EXPRESSIONS: readonly (readonly [string, number])[] = [
  ["1+2", 3],
  ["2*(3+4)", 14],
  ["10/4", 2.5],
  ["(1+2)*(3+4)-5", 16],
  ["2^10", 1024],
  ["100-99*2", -98],
  ["((1+2)+3)+4", 10],
  ["7/2+0.5", 4],
  ["3.5*2", 7],
  ["1+2+3+4+5+6+7+8", 36],
  ["(8-3)*(2+2)/5", 4],
  ["-(4+5)", -9],
  ["42", 42],
  ["9*9*9", 729],
  ["1000/8/5", 25],
  ["(2+3)*(4+5)*(6+7)", 585],
];

/** One measurement to run. */
export interface LoadJob {
  /** Server port on 127.0.0.1. */
  port: number;
  /** Service to say hello to; also picks the workload. */
  service: Extract<ServiceName, "echo" | "calc">;
  /** Connections opened (all before the warm-up starts). */
  connections: number;
  /** Requests kept in flight per connection, 1..{@linkcode RING}. */
  inFlight: number;
  /** Load before counting starts (ms). */
  warmupMs: number;
  /** Longest counting window (ms). */
  measureMs: number;
  /**
   * The window is cut into this many equal slices, each counted on its own,
   * and the median slice is reported: a neighbour process stealing the CPU
   * for part of the window moves the median far less than the total.
   * Default {@linkcode DEFAULT_SLICES}.
   */
  slices?: number;
  /** Counting also stops after this many replies. */
  maxRequests: number;
  /** Bound on connecting, the hello and the final drain (ms). Default 5000. */
  timeoutMs?: number;
}

/** What one measurement found. */
export interface LoadResult {
  /** Replies counted in the window. */
  requests: number;
  /** Length of the window in seconds. */
  seconds: number;
  /** Median of the slice rates (`requests / seconds` if no slice completed). */
  perSecond: number;
  /** Replies per second in each completed slice, in order. */
  sliceRates: number[];
  /** Replies decoded in full and compared, over the whole run. */
  verified: number;
  /** Replies received over the whole run, warm-up and drain included. */
  replies: number;
}

const encoder = new TextEncoder();
const HELLO_OK = MESSAGES.hello_ok.code;
const ERROR = MESSAGES.error.code;

interface Workload {
  /** The ring, twice: request `i` (mod RING) starts at `offsets[i]`. */
  bytes: Uint8Array;
  offsets: number[];
  replyType: number;
  /** Throws unless `frame` is the right answer to ring entry `index`. */
  verify(frame: Frame, index: number): void;
}

function workload(service: LoadJob["service"]): Workload {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < 2 * RING; i++) {
    const [expression] = EXPRESSIONS[i % RING]!;
    const id = (i % RING) + 1;
    frames.push(
      service === "calc"
        ? encodeMessage("calc_request", { id, expression })
        : encodeMessage("echo_request", {
          id,
          data: encoder.encode(expression),
        }),
    );
  }
  const offsets = [0];
  for (const f of frames) offsets.push(offsets.at(-1)! + f.length);
  const bytes = new Uint8Array(offsets.at(-1)!);
  frames.forEach((f, i) => bytes.set(f, offsets[i]!));
  const replyType = service === "calc"
    ? MESSAGES.calc_result.code
    : MESSAGES.echo_reply.code;
  return {
    bytes,
    offsets,
    replyType,
    verify(frame, index) {
      const [expression, value] = EXPRESSIONS[index]!;
      const { type, fields } = decodeMessage(frame);
      const wrong = (what: string) =>
        new Error(
          `Cannot trust the ${service} server: reply to request ${index + 1} (${
            JSON.stringify(expression)
          }) ${what}`,
        );
      if (!("id" in fields) || fields.id !== index + 1) {
        throw wrong(`has id ${"id" in fields ? fields.id : "none"}`);
      }
      if (type === "calc_result") {
        if (fields.value !== value) throw wrong(`is ${fields.value}`);
      } else if (type === "echo_reply") {
        const got = new TextDecoder().decode(fields.data);
        if (got !== expression) throw wrong(`echoes ${JSON.stringify(got)}`);
      } else {
        throw wrong(`is a ${type}`);
      }
    },
  };
}

/** Shared counters of one run. */
class Tally {
  total = 0;
  verified = 0;
  stopping = false;
  #limit = Infinity;
  #onLimit: (() => void) | undefined;

  /** Calls `onLimit` once `total` reaches `limit`. */
  watch(limit: number, onLimit: () => void): void {
    this.#limit = limit;
    this.#onLimit = onLimit;
  }

  add(n: number): void {
    this.total += n;
    if (this.total >= this.#limit) {
      this.#limit = Infinity;
      this.#onLimit?.();
    }
  }
}

/** One client connection of the generator. */
class LoadConnection {
  readonly conn: Deno.TcpConn;
  #w: Workload;
  #tally: Tally;
  #reader = new FrameReader();
  #buf = new Uint8Array(64 * 1024);
  /** Requests committed to the wire (written or about to be). */
  #issued = 0;
  /** Requests owed to the writer. */
  #owed = 0;
  /** Ring position of the next request to write. */
  #next = 0;
  #received = 0;
  #writing = false;
  #writeFailed: unknown;

  constructor(conn: Deno.TcpConn, w: Workload, tally: Tally) {
    this.conn = conn;
    this.#w = w;
    this.#tally = tally;
  }

  /** Says hello and waits for hello_ok. */
  async hello(service: string): Promise<void> {
    await writeAll(
      this.conn,
      encodeMessage("hello", { version: PROTOCOL_VERSION, service }),
    );
    for (;;) {
      const n = await this.conn.read(this.#buf);
      if (n === null) {
        throw new Error("Cannot benchmark: server closed on hello");
      }
      const frames = this.#reader.push(this.#buf.subarray(0, n));
      if (frames.length === 0) continue;
      if (frames[0]!.type !== HELLO_OK) throw unexpected(frames[0]!, service);
      return;
    }
  }

  /** Keeps `inFlight` requests outstanding until the tally says stop. */
  async drive(inFlight: number): Promise<void> {
    this.#send(inFlight);
    const w = this.#w;
    const tally = this.#tally;
    for (;;) {
      if (this.#writeFailed !== undefined) throw this.#writeFailed;
      if (tally.stopping && this.#received === this.#issued) return;
      const n = await this.conn.read(this.#buf);
      if (n === null) throw new Error("Cannot benchmark: server closed early");
      const frames = this.#reader.push(this.#buf.subarray(0, n));
      for (const frame of frames) {
        if (frame.type !== w.replyType) throw unexpected(frame, "load");
        if (this.#received % VERIFY_EVERY === 0) {
          w.verify(frame, this.#received % RING);
          tally.verified++;
        }
        this.#received++;
      }
      tally.add(frames.length);
      if (!tally.stopping) this.#send(frames.length);
    }
  }

  #send(n: number): void {
    this.#owed += n;
    this.#issued += n;
    if (!this.#writing) this.#pump();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#owed > 0) {
        const n = Math.min(this.#owed, RING);
        const { bytes, offsets } = this.#w;
        const chunk = bytes.subarray(
          offsets[this.#next]!,
          offsets[this.#next + n]!,
        );
        this.#owed -= n;
        this.#next = (this.#next + n) % RING;
        await writeAll(this.conn, chunk);
      }
    } catch (error) {
      this.#writeFailed = error;
    } finally {
      this.#writing = false;
    }
  }
}

function unexpected(frame: Frame, what: string): Error {
  let detail = `type 0x${frame.type.toString(16).padStart(4, "0")}`;
  if (frame.type === ERROR) {
    try {
      const { fields } = decodeMessage(frame);
      if ("message" in fields) detail = `error: ${fields.message}`;
    } catch { /* keep the type */ }
  }
  return new Error(`Cannot benchmark (${what}): server answered ${detail}`);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot benchmark: ${what} took over ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Runs one measurement on the current thread.
 *
 * @example
 * ```ts
 * const r = await runLoad({
 *   port, service: "echo", connections: 50, inFlight: 16,
 *   warmupMs: 500, measureMs: 2000, maxRequests: 5_000_000,
 * });
 * r.perSecond;
 * ```
 */
export async function runLoad(job: LoadJob): Promise<LoadResult> {
  if (job.inFlight < 1 || job.inFlight > RING) {
    throw new RangeError(
      `Cannot load: inFlight ${job.inFlight} is not in 1..${RING}`,
    );
  }
  const timeoutMs = job.timeoutMs ?? 5000;
  const w = workload(job.service);
  const tally = new Tally();
  const conns: LoadConnection[] = [];
  try {
    await within(
      (async () => {
        for (let i = 0; i < job.connections; i++) {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: job.port,
          }).catch((error) => {
            throw new Error(
              `Cannot benchmark: cannot connect to 127.0.0.1:${job.port}: ${error.message}`,
            );
          });
          conn.setNoDelay(true);
          conns.push(new LoadConnection(conn, w, tally));
        }
        await Promise.all(conns.map((c) => c.hello(job.service)));
      })(),
      timeoutMs,
      "connecting",
    );

    const driving = Promise.all(conns.map((c) => c.drive(job.inFlight)));
    // A failing connection must end the run now, not after the timers.
    const failed = driving.then(() => new Promise<never>(() => {}));
    failed.catch(() => {});
    await Promise.race([sleep(job.warmupMs), failed]);
    const c0 = tally.total;
    const t0 = performance.now();
    const limitHit = Promise.withResolvers<"limit">();
    tally.watch(c0 + job.maxRequests, () => limitHit.resolve("limit"));
    const sliceRates: number[] = [];
    const slices = Math.max(1, job.slices ?? DEFAULT_SLICES);
    let [cs, ts] = [c0, t0];
    for (let i = 1; i <= slices; i++) {
      // Timers fire late under load: aim each slice end at the schedule.
      const wait = t0 + (job.measureMs * i) / slices - performance.now();
      const ended = await Promise.race([
        sleep(Math.max(0, wait)),
        limitHit.promise,
        failed,
      ]);
      const [c, t] = [tally.total, performance.now()];
      if (ended === "limit") break;
      sliceRates.push((c - cs) / ((t - ts) / 1000));
      [cs, ts] = [c, t];
    }
    const c1 = tally.total;
    const t1 = performance.now();
    tally.stopping = true;
    await within(driving, timeoutMs, "draining the last replies");
    const seconds = (t1 - t0) / 1000;
    return {
      requests: c1 - c0,
      seconds,
      perSecond: sliceRates.length > 0
        ? median(sliceRates)
        : (c1 - c0) / seconds,
      sliceRates,
      verified: tally.verified,
      replies: tally.total,
    };
  } finally {
    for (const c of conns) {
      try {
        c.conn.close();
      } catch { /* already closed */ }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type Reply = { ok: true; result: LoadResult } | { ok: false; error: string };

/**
 * Runs {@linkcode runLoad} on a Worker thread, one job at a time.
 *
 * @example
 * ```ts
 * using worker = new LoadWorker();
 * const result = await worker.run(job);
 * ```
 */
export class LoadWorker implements Disposable {
  #worker = new Worker(import.meta.url, { type: "module" });
  #busy: Promise<unknown> = Promise.resolve();

  /** Runs `job` on the worker; jobs queue behind each other. */
  run(job: LoadJob): Promise<LoadResult> {
    const next = this.#busy.then(() => {
      const { promise, resolve, reject } = Promise.withResolvers<LoadResult>();
      this.#worker.onmessage = (event: MessageEvent<Reply>) => {
        if (event.data.ok) resolve(event.data.result);
        else reject(new Error(event.data.error));
      };
      this.#worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(new Error(`Cannot run the load worker: ${event.message}`));
      };
      this.#worker.postMessage(job);
      return promise;
    });
    this.#busy = next.catch(() => {});
    return next;
  }

  /** Stops the worker thread. */
  terminate(): void {
    this.#worker.terminate();
  }

  /** Same as {@linkcode terminate}. */
  [Symbol.dispose](): void {
    this.terminate();
  }
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<LoadJob>) => void) | null;
  postMessage(message: Reply): void;
}

const scope = globalThis as unknown as {
  WorkerGlobalScope?: abstract new () => unknown;
};
if (
  import.meta.main && scope.WorkerGlobalScope !== undefined &&
  globalThis instanceof scope.WorkerGlobalScope
) {
  const self = globalThis as unknown as WorkerScope;
  self.onmessage = (event) => {
    runLoad(event.data).then(
      (result) => self.postMessage({ ok: true, result }),
      (error) =>
        self.postMessage({ ok: false, error: String(error?.message ?? error) }),
    );
  };
}
