/**
 * The integrated local server (HW5) measured in one run, over loopback,
 * built as `local-server --users` builds it: `hubServices` with the
 * calculator, the video edge (a random video preloaded into its cache),
 * the image service over `testdata/images` when it exists, and the login
 * gate. Every client says hello to `hub` and logs in first.
 *
 * 1. Calculations per second on the idle server: N clients each keeping K
 *    `calc_request`s in flight (pre-encoded, replies counted off the
 *    socket, every {@linkcode VERIFY_EVERY}th one decoded and its value
 *    compared), after a warm-up, median of the window's slices.
 * 2. The same while 20 other clients download the video over and over at
 *    full speed; the ratio to the idle rate (measured before and after, in
 *    the same run) against {@linkcode TARGET_RATIO}, and the download rate
 *    reached meanwhile.
 * 3. Logins per second with passwords hashed at
 *    {@linkcode DEFAULT_ITERATIONS} and, for comparison, at 1000
 *    iterations: a few clients logging in again and again.
 *
 * Where things run: the servers on this (main) thread; the calc and login
 * clients on one Worker thread and the downloaders on another (this module
 * is the Workers' entry point), so a downloader's reads never delay a calc
 * client's. On a 2-core machine the three threads share two cores while
 * the downloads run: the ratio measures the machine as a whole, and the
 * CPU columns say which thread had the time.
 *
 * @module
 */

import {
  delay,
  hex,
  median,
  processCpuSeconds,
  randomBytes,
  threadCpuSeconds,
  within,
} from "./_util.ts";
import { writeAll } from "../lib/file_io.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectTlv } from "../lib/client.ts";
import { ConfinedRoot } from "../lib/confined_fs.ts";
import { Logger, printLine } from "../lib/log.ts";
import { TlvServer, type TlvService } from "../lib/server.ts";
import { type Frame } from "../protocol/tlv/frame.ts";
import { FrameReader } from "../protocol/tlv/frame_reader.ts";
import { decodeMessage, encodeMessage } from "../protocol/tlv/message.ts";
import { MESSAGES, PROTOCOL_VERSION } from "../protocol/tlv/registry.ts";
import { calcService } from "../roles/calc/service.ts";
import { AuthGate } from "../roles/hub/gate.ts";
import { hubServices } from "../roles/hub/hub.ts";
import { imageService } from "../roles/hub/images.ts";
import {
  DEFAULT_ITERATIONS,
  hashPassword,
  UserStore,
} from "../roles/hub/users.ts";
import { VideoCache } from "../roles/video/cache.ts";
import { Edge } from "../roles/video/edge.ts";
import { originService } from "../roles/video/origin.ts";
import { DEFAULT_SLICES, EXPRESSIONS, RING, VERIFY_EVERY } from "./_load.ts";
import { fmt, formatRow, printHeader } from "./_table.ts";

/** The loaded/idle calc rate ratio that passes. */
export const TARGET_RATIO = 0.7;

/** Iterations of the cheap hashes logins are compared against. */
export const CHEAP_ITERATIONS = 1000;

/** Options for {@linkcode runHubBench}. */
export interface HubBenchOptions {
  /** Calc clients. Default 16. */
  calcConnections?: number;
  /** Requests each calc client keeps in flight, 1..16. Default 16. */
  inFlight?: number;
  /** Calc load before counting (ms). Default 500. */
  warmupMs?: number;
  /** Calc counting window (ms). Default 2000. */
  measureMs?: number;
  /** Counting also stops after this many replies. Default 4 000 000. */
  maxRequests?: number;
  /** Clients downloading during the loaded measurement. Default 20. */
  downloaders?: number;
  /** Size of the generated video in bytes. Default 8 MiB. */
  videoBytes?: number;
  /** Clients logging in at once. Default 4. */
  loginClients?: number;
  /** Login counting window per iteration count (ms). Default 3000. */
  loginMs?: number;
  /** Counting also stops after this many logins. Default 100 000. */
  maxLogins?: number;
}

/** One calc measurement. */
export interface CalcPhase {
  /** What ran beside the calc clients. */
  label: string;
  /** Median of the slices' calc/s. */
  perSecond: number;
  /** Share of a core the servers' thread used in the window. */
  serverCpu: number;
  /** Share of a core the calc clients' thread used in the window. */
  clientCpu: number;
  /** Download MB/s in the window (0 when idle). */
  downloadMBps: number;
}

/** One login measurement. */
export interface LoginPhase {
  iterations: number;
  perSecond: number;
  /** Share of a core the servers' thread used in the window. */
  serverCpu: number;
  /** Share of all cores the process used in the window. */
  processCpu: number;
  /** Median time from sending a login to its login_ok (ms). */
  medianMs: number;
  logins: number;
}

/** Everything the bench measured. */
export interface HubBenchResult {
  phases: CalcPhase[];
  /** Loaded calc/s over the mean of the idle ones. */
  ratio: number;
  logins: LoginPhase[];
}

const MiB = 1024 * 1024;
const IMAGES = fileURLToPath(new URL("../testdata/images", import.meta.url));

/**
 * Starts the local server, measures the three parts and prints them.
 *
 * @example
 * ```ts
 * const result = await runHubBench({ measureMs: 1000, videoBytes: 8 << 20 });
 * result.ratio; // calc/s while downloading over calc/s idle
 * ```
 */
export async function runHubBench(
  options: HubBenchOptions = {},
): Promise<HubBenchResult> {
  const dir = await Deno.makeTempDir({ prefix: "socklab-hub-bench-" });
  try {
    return await benchIn(dir, options);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The users of the run: who logs in as what, with which hash cost. */
interface Users {
  calc: string[];
  download: string[];
  slow: string[];
  fast: string[];
}

/** Every user's password (a bench needs no secrets). */
function passwordOf(user: string): string {
  return `pw-${user}`;
}

async function benchIn(
  dir: string,
  options: HubBenchOptions,
): Promise<HubBenchResult> {
  const connections = Math.max(1, options.calcConnections ?? 16);
  const inFlight = Math.min(RING, Math.max(1, options.inFlight ?? 16));
  const warmupMs = options.warmupMs ?? 500;
  const measureMs = options.measureMs ?? 2000;
  const maxRequests = options.maxRequests ?? 4_000_000;
  const downloaders = Math.max(1, options.downloaders ?? 20);
  const videoBytes = options.videoBytes ?? 8 * MiB;
  const loginClients = Math.max(1, options.loginClients ?? 4);
  const loginMs = options.loginMs ?? 3000;
  const maxLogins = options.maxLogins ?? 100_000;

  const names = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  const users: Users = {
    calc: names("calc", connections),
    download: names("dl", downloaders),
    slow: names("slow", loginClients),
    fast: names("fast", loginClients),
  };
  const records = await Promise.all([
    ...[...users.calc, ...users.download, ...users.fast].map((name) =>
      hashPassword(name, passwordOf(name), { iterations: CHEAP_ITERATIONS })
    ),
    ...users.slow.map((name) => hashPassword(name, passwordOf(name))),
  ]);

  const video = randomBytes(videoBytes);
  const sha256 = hex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", video)),
  );
  for (const sub of ["origin", "cache"]) await Deno.mkdir(join(dir, sub));
  await Deno.writeFile(join(dir, "big.mp4"), video);

  const log = new Logger({ name: "bench", level: "error" });
  await using originServer = new TlvServer({
    services: [
      originService({
        videos: await ConfinedRoot.open(join(dir, "origin")),
        channels: new Map(),
      }).service,
    ],
    log,
  });
  const origin = () =>
    connectTlv({
      port: originServer.addr.port,
      service: "video",
      timeoutMs: 10_000,
    });
  const cache = await VideoCache.open({
    dir: await ConfinedRoot.open(join(dir, "cache")),
    maxBytes: 1024 ** 3,
    origin,
    log,
  });
  await cache.preload(join(dir, "big.mp4"));
  await using edge = new Edge({ cache, origin, log });
  const image = await imagesIfAny(log);
  const gate = new AuthGate({ users: UserStore.fromRecords(records), log });
  await using hub = new TlvServer({
    services: hubServices({
      calc: calcService(),
      video: edge.service,
      ...(image ? { image } : {}),
      gate,
      log,
    }),
    log,
  });
  const port = hub.addr.port;
  using clients = new BenchWorker();
  using downloads = new BenchWorker();

  printLine(
    `local server (hub: calc, video, ${
      image ? "image, " : ""
    }auth) on the main thread; calc and login clients on one Worker thread, ` +
      `downloaders on another; ${navigator.hardwareConcurrency} cores; ` +
      `Deno ${Deno.version.deno}`,
  );
  printLine(
    `calc: ${connections} clients × ${inFlight} in flight, ${warmupMs} ms ` +
      `warm-up + ${measureMs} ms window, median of ${DEFAULT_SLICES} slices; ` +
      `load: ${downloaders} clients re-downloading a ${
        (videoBytes / MiB).toFixed(0)
      } MiB random video from the cache`,
  );

  // ---- 1 and 2. calc idle, loaded, idle again
  const calcJob: CalcJob = {
    kind: "calc",
    port,
    users: users.calc,
    inFlight,
    warmupMs,
    measureMs,
    maxRequests,
  };
  const measureCalc = async (
    label: string,
    mark?: () => Promise<DownloadMark>,
  ): Promise<CalcPhase> => {
    let start: { cpu: number; mark: Promise<DownloadMark> | undefined } = {
      cpu: 0,
      mark: undefined,
    };
    let end = start;
    const result = await clients.run<CalcResult>(calcJob, {
      timeoutMs: warmupMs + measureMs + 30_000,
      onEvent: (event) => {
        const sample = { cpu: threadCpuSeconds(), mark: mark?.() };
        if (event === "window-start") start = sample;
        else end = sample;
      },
    });
    const [m0, m1] = await Promise.all([start.mark, end.mark]);
    const downloadMBps = m0 && m1
      ? (m1.bytes - m0.bytes) / ((m1.at - m0.at) / 1000) / 1e6
      : 0;
    return {
      label,
      perSecond: result.perSecond,
      serverCpu: (end.cpu - start.cpu) / result.seconds,
      clientCpu: result.cpuSeconds / result.seconds,
      downloadMBps,
    };
  };

  const phases: CalcPhase[] = [];
  phases.push(await measureCalc("idle"));
  const downloading = downloads.run<DownloadResult>({
    kind: "download",
    port,
    users: users.download,
    name: "big",
    size: videoBytes,
    sha256,
    maxMs: warmupMs + measureMs + 60_000,
  }, { timeoutMs: warmupMs + measureMs + 90_000, waitFor: "running" });
  await downloading.started;
  phases.push(
    await measureCalc(
      `while ${downloaders} clients download`,
      () => downloads.mark(),
    ),
  );
  downloads.stop();
  const downloaded = await downloading.done;
  phases.push(await measureCalc("idle again"));

  const idle = (phases[0]!.perSecond + phases[2]!.perSecond) / 2;
  const ratio = phases[1]!.perSecond / idle;
  printLine("");
  printLine("1–2. calculations per second on the hub, logged in");
  printHeader(CALC_COLUMNS);
  for (const p of phases) {
    printLine(formatRow(CALC_COLUMNS, [
      p.label,
      count(p.perSecond),
      pct(p.serverCpu),
      pct(p.clientCpu),
      p.downloadMBps > 0 ? count(p.downloadMBps) : "-",
    ]));
  }
  printLine(
    `   loaded / idle (mean of both idle runs): ${fmt(ratio)} (target ≥ ` +
      `${TARGET_RATIO.toFixed(2)}): ${
        ratio >= TARGET_RATIO ? "PASS" : "BELOW TARGET"
      }`,
  );
  printLine(
    `   downloads: ${downloaded.completed} complete (${downloaded.verified} ` +
      `hashed and matched, every header's digest checked), ${
        count(downloaded.bytes / downloaded.seconds / 1e6)
      } MB/s over ${downloaded.seconds.toFixed(1)} s; download thread ${
        pct(downloaded.cpuSeconds / downloaded.seconds)
      }`,
  );

  // ---- 3. logins
  const logins: LoginPhase[] = [];
  for (
    const [iterations, who] of [
      [DEFAULT_ITERATIONS, users.slow],
      [CHEAP_ITERATIONS, users.fast],
    ] as const
  ) {
    let start = { thread: 0, process: 0 };
    let end = start;
    const r = await clients.run<LoginResult>({
      kind: "login",
      port,
      users: [...who],
      measureMs: loginMs,
      maxLogins,
    }, {
      timeoutMs: loginMs + 60_000,
      onEvent: (event) => {
        const sample = {
          thread: threadCpuSeconds(),
          process: processCpuSeconds(),
        };
        if (event === "window-start") start = sample;
        else end = sample;
      },
    });
    logins.push({
      iterations,
      perSecond: r.logins / r.seconds,
      serverCpu: (end.thread - start.thread) / r.seconds,
      processCpu: (end.process - start.process) / r.seconds /
        navigator.hardwareConcurrency,
      medianMs: r.medianMs,
      logins: r.logins,
    });
  }
  printLine("");
  printLine(
    `3. logins per second: ${loginClients} clients logging in again and ` +
      `again for ${loginMs} ms (one login at a time per connection); CPU ` +
      `in the window: the servers' thread, and the process on all cores ` +
      `(PBKDF2 runs off the main thread)`,
  );
  printHeader(LOGIN_COLUMNS);
  for (const l of logins) {
    printLine(formatRow(LOGIN_COLUMNS, [
      `${l.iterations.toLocaleString("en-US")}${
        l.iterations === DEFAULT_ITERATIONS ? " (default)" : ""
      }`,
      l.perSecond.toFixed(1),
      l.medianMs.toFixed(2),
      String(l.logins),
      pct(l.serverCpu),
      pct(l.processCpu),
    ]));
  }
  const [slow, fast] = logins;
  printLine(
    `   a default login costs ${
      (fast!.perSecond / slow!.perSecond).toFixed(0)
    }× a ${CHEAP_ITERATIONS}-iteration one; gate counted ${gate.stats.logins} ` +
      `logins, ${gate.stats.failures} failures`,
  );
  printLine("");
  printLine(
    `summary: calc ${count(idle)}/s idle, ${
      count(phases[1]!.perSecond)
    }/s beside ${downloaders} downloads (${
      count(phases[1]!.downloadMBps)
    } MB/s) = ${fmt(ratio)} (target ≥ ${TARGET_RATIO.toFixed(2)}): ${
      ratio >= TARGET_RATIO ? "PASS" : "BELOW TARGET"
    }; logins ${slow!.perSecond.toFixed(1)}/s at ${
      DEFAULT_ITERATIONS.toLocaleString("en-US")
    } iterations, ${fast!.perSecond.toFixed(0)}/s at ${CHEAP_ITERATIONS}`,
  );
  return { phases, ratio, logins };
}

/** The image service over `testdata/images`, as `local-server` mounts it. */
async function imagesIfAny(log: Logger): Promise<TlvService | undefined> {
  try {
    return imageService({ images: await ConfinedRoot.open(IMAGES), log });
  } catch {
    return undefined;
  }
}

const CALC_COLUMNS = [
  ["calc clients run", 30],
  ["calc/s", 10],
  ["server thread", 14],
  ["calc clients", 13],
  ["download MB/s", 14],
] as const;

const LOGIN_COLUMNS = [
  ["PBKDF2 iterations", 20],
  ["logins/s", 10],
  ["ms per login", 13],
  ["logins", 8],
  ["server thread", 14],
  ["process (all cores)", 20],
] as const;

// ------------------------------------------------------------ the Workers

/** Calc clients: log in, then keep `inFlight` calc_requests outstanding. */
interface CalcJob {
  kind: "calc";
  port: number;
  users: string[];
  inFlight: number;
  warmupMs: number;
  measureMs: number;
  maxRequests: number;
}

interface CalcResult {
  perSecond: number;
  requests: number;
  seconds: number;
  verified: number;
  /** CPU seconds of the clients' thread in the window. */
  cpuSeconds: number;
}

/** Downloaders: each logs in and downloads `name` again and again. */
interface DownloadJob {
  kind: "download";
  port: number;
  users: string[];
  name: string;
  size: number;
  sha256: string;
  /** Stop by this time even if never told to (ms). */
  maxMs: number;
}

interface DownloadResult {
  completed: number;
  /** Downloads whose bytes were hashed and matched. */
  verified: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
}

/** Bytes the downloaders had received by `at` (the download thread's ms). */
interface DownloadMark {
  bytes: number;
  at: number;
}

/** Login clients: log in, again and again, for `measureMs`. */
interface LoginJob {
  kind: "login";
  port: number;
  users: string[];
  measureMs: number;
  maxLogins: number;
}

interface LoginResult {
  logins: number;
  seconds: number;
  medianMs: number;
}

type Job = CalcJob | DownloadJob | LoginJob;
type Control = { kind: "mark" } | { kind: "stop" };
type WorkerEvent = "window-start" | "window-end" | "running";

type Reply =
  | { type: "event"; event: WorkerEvent }
  | { type: "mark"; mark: DownloadMark }
  | { type: "done"; result: unknown }
  | { type: "error"; error: string };

/** A Worker running this module's jobs, one at a time. */
class BenchWorker implements Disposable {
  #worker = new Worker(import.meta.url, { type: "module" });
  #marks: PromiseWithResolvers<DownloadMark>[] = [];

  /** Runs `job`; resolves with its result. */
  run<R>(
    job: Job,
    options: { timeoutMs: number; onEvent?: (event: WorkerEvent) => void },
  ): Promise<R>;
  /** Runs `job`; `started` resolves at the event `waitFor`. */
  run<R>(
    job: Job,
    options: { timeoutMs: number; waitFor: WorkerEvent },
  ): { started: Promise<void>; done: Promise<R> };
  run<R>(
    job: Job,
    options: {
      timeoutMs: number;
      onEvent?: (event: WorkerEvent) => void;
      waitFor?: WorkerEvent;
    },
  ): Promise<R> | { started: Promise<void>; done: Promise<R> } {
    const done = Promise.withResolvers<R>();
    const started = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      const error = new Error(
        `Cannot finish the ${job.kind} job: over ${options.timeoutMs} ms`,
      );
      done.reject(error);
      started.reject(error);
    }, options.timeoutMs);
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      const reply = event.data;
      if (reply.type === "event") {
        options.onEvent?.(reply.event);
        if (reply.event === options.waitFor) started.resolve();
      } else if (reply.type === "mark") {
        this.#marks.shift()?.resolve(reply.mark);
      } else if (reply.type === "done") done.resolve(reply.result as R);
      else {
        const error = new Error(reply.error);
        done.reject(error);
        started.reject(error);
      }
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const error = new Error(`Cannot run the bench worker: ${event.message}`);
      done.reject(error);
      started.reject(error);
    };
    this.#worker.postMessage(job);
    const result = done.promise.finally(() => clearTimeout(timer));
    if (options.waitFor === undefined) return result;
    started.promise.catch(() => {});
    return { started: started.promise, done: result };
  }

  /** How many bytes the running download job has received by now. */
  mark(): Promise<DownloadMark> {
    const mark = Promise.withResolvers<DownloadMark>();
    this.#marks.push(mark);
    this.#worker.postMessage({ kind: "mark" } satisfies Control);
    return mark.promise;
  }

  /** Tells the running download job to stop. */
  stop(): void {
    this.#worker.postMessage({ kind: "stop" } satisfies Control);
  }

  [Symbol.dispose](): void {
    this.#worker.terminate();
  }
}

const CALC_RESULT = MESSAGES.calc_result.code;
const HELLO_OK = MESSAGES.hello_ok.code;
const LOGIN_OK = MESSAGES.login_ok.code;
const ERROR = MESSAGES.error.code;

/**
 * The calc requests, twice in a row, request `i` at `offsets[i]`: any run
 * of up to {@linkcode RING} consecutive requests is one `subarray`.
 */
function calcRing(): { bytes: Uint8Array; offsets: number[] } {
  const frames = Array.from(
    { length: 2 * RING },
    (_, i) =>
      encodeMessage("calc_request", {
        id: (i % RING) + 1,
        expression: EXPRESSIONS[i % RING]![0],
      }),
  );
  const offsets = [0];
  for (const f of frames) offsets.push(offsets.at(-1)! + f.length);
  const bytes = new Uint8Array(offsets.at(-1)!);
  frames.forEach((f, i) => bytes.set(f, offsets[i]));
  return { bytes, offsets };
}

/** Shared counters of the calc clients. */
interface CalcTally {
  total: number;
  verified: number;
  stopping: boolean;
}

/** One logged-in calc client over a raw connection. */
class CalcConnection {
  #conn: Deno.TcpConn;
  #reader = new FrameReader();
  #buf = new Uint8Array(64 * 1024);
  #ring: { bytes: Uint8Array; offsets: number[] };
  #tally: CalcTally;
  #issued = 0;
  #received = 0;
  #owed = 0;
  #next = 0;
  #writing = false;
  #writeFailed: unknown;

  constructor(
    conn: Deno.TcpConn,
    ring: { bytes: Uint8Array; offsets: number[] },
    tally: CalcTally,
  ) {
    this.#conn = conn;
    this.#ring = ring;
    this.#tally = tally;
  }

  /** Says hello to `hub` and logs in as `user`. */
  async open(user: string): Promise<void> {
    await writeAll(
      this.#conn,
      new Uint8Array([
        ...encodeMessage("hello", {
          version: PROTOCOL_VERSION,
          service: "hub",
        }),
        ...encodeMessage("login", {
          id: 0xffff,
          user,
          password: passwordOf(user),
        }),
      ]),
    );
    const expect = [HELLO_OK, LOGIN_OK];
    while (expect.length > 0) {
      for (const frame of this.#reader.push(await this.#read("at login"))) {
        if (frame.type !== expect.shift()) throw unexpected(frame, "login");
      }
    }
  }

  async drive(inFlight: number): Promise<void> {
    this.#send(inFlight);
    const tally = this.#tally;
    for (;;) {
      if (this.#writeFailed !== undefined) throw this.#writeFailed;
      if (tally.stopping && this.#received === this.#issued) return;
      const frames = this.#reader.push(await this.#read("early"));
      for (const frame of frames) {
        if (frame.type !== CALC_RESULT) throw unexpected(frame, "calc");
        if (this.#received % VERIFY_EVERY === 0) {
          this.#verify(frame, this.#received % RING);
        }
        this.#received++;
      }
      if (frames.length === 0) continue;
      tally.total += frames.length;
      if (!tally.stopping) this.#send(frames.length);
    }
  }

  #verify(frame: Frame, index: number): void {
    const message = decodeMessage(frame);
    const [expression, value] = EXPRESSIONS[index]!;
    if (
      message.type !== "calc_result" || message.fields.id !== index + 1 ||
      message.fields.value !== value
    ) {
      throw new Error(
        `Cannot trust the hub: ${JSON.stringify(expression)} was answered ` +
          `with ${JSON.stringify(message.fields)}`,
      );
    }
    this.#tally.verified++;
  }

  async #read(what: string): Promise<Uint8Array> {
    const n = await this.#conn.read(this.#buf);
    if (n === null) throw new Error(`Cannot benchmark: hub closed ${what}`);
    return this.#buf.subarray(0, n);
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
        const { bytes, offsets } = this.#ring;
        this.#owed -= n;
        const chunk = bytes.subarray(
          offsets[this.#next]!,
          offsets[this.#next + n]!,
        );
        this.#next = (this.#next + n) % RING;
        await writeAll(this.#conn, chunk);
      }
    } catch (error) {
      this.#writeFailed = error;
    } finally {
      this.#writing = false;
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}

async function runCalc(
  job: CalcJob,
  emit: (event: WorkerEvent) => void,
): Promise<CalcResult> {
  const ring = calcRing();
  const tally: CalcTally = { total: 0, verified: 0, stopping: false };
  const conns: CalcConnection[] = [];
  try {
    await within(
      (async () => {
        for (const user of job.users) {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: job.port,
          });
          conn.setNoDelay(true);
          const c = new CalcConnection(conn, ring, tally);
          conns.push(c);
          await c.open(user);
        }
      })(),
      10_000,
      "connecting and logging in",
    );
    const driving = Promise.all(conns.map((c) => c.drive(job.inFlight)));
    const failed = driving.then(() => new Promise<never>(() => {}));
    failed.catch(() => {});
    await Promise.race([delay(job.warmupMs), failed]);
    const cpu0 = threadCpuSeconds();
    emit("window-start");
    const c0 = tally.total;
    const t0 = performance.now();
    const rates: number[] = [];
    let [cs, ts] = [c0, t0];
    for (let i = 1; i <= DEFAULT_SLICES; i++) {
      const wait = t0 + (job.measureMs * i) / DEFAULT_SLICES -
        performance.now();
      await Promise.race([delay(Math.max(0, wait)), failed]);
      const [c, t] = [tally.total, performance.now()];
      rates.push((c - cs) / ((t - ts) / 1000));
      [cs, ts] = [c, t];
      if (c - c0 >= job.maxRequests) break;
    }
    const requests = tally.total - c0;
    const seconds = (performance.now() - t0) / 1000;
    emit("window-end");
    const cpuSeconds = threadCpuSeconds() - cpu0;
    tally.stopping = true;
    await within(driving, 10_000, "draining the last replies");
    return {
      perSecond: median(rates),
      requests,
      seconds,
      verified: tally.verified,
      cpuSeconds,
    };
  } finally {
    for (const c of conns) c.close();
  }
}

/** Set by the main thread's control messages for the running download job. */
const control = {
  stop: Promise.withResolvers<void>(),
  bytes: 0,
};

async function runDownloads(
  job: DownloadJob,
  emit: (event: WorkerEvent) => void,
): Promise<DownloadResult> {
  control.stop = Promise.withResolvers<void>();
  control.bytes = 0;
  let stopping = false;
  const stopTimer = setTimeout(() => control.stop.resolve(), job.maxMs);
  control.stop.promise.then(() => (stopping = true));
  const clients = await within(
    Promise.all(job.users.map(async (user) => {
      const client = await connectTlv({
        port: job.port,
        service: "hub",
        timeoutMs: 20_000,
      });
      const ok = await client.request("login", {
        user,
        password: passwordOf(user),
      });
      if (ok.type !== "login_ok") throw new Error(`login answered ${ok.type}`);
      return client;
    })),
    20_000,
    "connecting the downloaders",
  );
  let completed = 0;
  let verified = 0;
  let receiving = 0;
  const cpu0 = threadCpuSeconds();
  const t0 = performance.now();
  const loops = clients.map(async (client, i) => {
    let first = true;
    // Bounded by the stop (at the latest maxMs) and by a count.
    for (let n = 0; n < 100_000 && !stopping; n++) {
      const hash = i === 0 && n === 0 ? createHash("sha256") : undefined;
      let got = 0;
      let headerDigest = "";
      let endSize = -1;
      try {
        for await (
          const frame of client.stream("video_get", { name: job.name }, {
            highWaterMark: 64,
          })
        ) {
          if (frame.type === "bulk_data") {
            if (frame.fields.offset !== got) {
              throw new Error(`a chunk at ${frame.fields.offset}, not ${got}`);
            }
            got += frame.fields.data.length;
            control.bytes += frame.fields.data.length;
            hash?.update(frame.fields.data);
            if (first) {
              first = false;
              if (++receiving === clients.length) emit("running");
            }
          } else if (frame.type === "bulk_header") {
            headerDigest = hex(frame.fields.digest);
          } else if (frame.type === "bulk_end") {
            endSize = frame.fields.size;
          }
          if (stopping) break;
        }
      } catch (error) {
        if (stopping) return;
        throw error;
      }
      if (stopping) return;
      if (endSize !== job.size || got !== job.size) {
        throw new Error(
          `Cannot trust the hub: ${got} bytes of ${job.name} came, bulk_end said ${endSize}, not ${job.size}`,
        );
      }
      if (headerDigest !== job.sha256) {
        throw new Error(`Cannot trust the hub: ${job.name} has another digest`);
      }
      if (hash !== undefined) {
        if (hash.digest("hex") !== job.sha256) {
          throw new Error(`Cannot trust the hub: ${job.name}'s bytes differ`);
        }
        verified++;
      }
      completed++;
    }
  });
  try {
    // A failing downloader ends the job now, not at the stop.
    await Promise.race([
      control.stop.promise,
      Promise.all(loops).then(() => control.stop.promise),
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = threadCpuSeconds() - cpu0;
    const bytes = control.bytes;
    await Promise.all(clients.map((c) => c.close()));
    await within(Promise.all(loops), 10_000, "stopping the downloaders");
    return { completed, verified, bytes, seconds, cpuSeconds };
  } finally {
    stopping = true;
    clearTimeout(stopTimer);
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function runLogins(
  job: LoginJob,
  emit: (event: WorkerEvent) => void,
): Promise<LoginResult> {
  const clients = await within(
    Promise.all(
      job.users.map(() =>
        connectTlv({ port: job.port, service: "hub", timeoutMs: 20_000 })
      ),
    ),
    20_000,
    "connecting the login clients",
  );
  try {
    const times: number[] = [];
    let counting = false;
    let stopping = false;
    const login = async (i: number) => {
      const user = job.users[i]!;
      const started = performance.now();
      const ok = await clients[i]!.request("login", {
        user,
        password: passwordOf(user),
      });
      if (ok.type !== "login_ok" || ok.fields.user !== user) {
        throw new Error(`Cannot trust the hub: login answered ${ok.type}`);
      }
      if (counting && !stopping) times.push(performance.now() - started);
    };
    // Warm-up: one login each, not counted.
    await within(
      Promise.all(clients.map((_, i) => login(i))),
      20_000,
      "the first logins",
    );
    counting = true;
    emit("window-start");
    const t0 = performance.now();
    const deadline = t0 + job.measureMs;
    const loops = clients.map(async (_, i) => {
      while (performance.now() < deadline && times.length < job.maxLogins) {
        await login(i);
      }
    });
    await within(Promise.all(loops), job.measureMs + 20_000, "the logins");
    stopping = true;
    const seconds = (performance.now() - t0) / 1000;
    emit("window-end");
    return {
      logins: times.length,
      seconds,
      medianMs: median(times),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

function runJob(
  job: Job,
  emit: (event: WorkerEvent) => void,
): Promise<unknown> {
  switch (job.kind) {
    case "calc":
      return runCalc(job, emit);
    case "download":
      return runDownloads(job, emit);
    case "login":
      return runLogins(job, emit);
  }
}

// ------------------------------------------------------------ helpers

function unexpected(frame: Frame, what: string): Error {
  let detail = `type 0x${frame.type.toString(16).padStart(4, "0")}`;
  if (frame.type === ERROR) {
    try {
      const { fields } = decodeMessage(frame);
      if ("message" in fields) detail = `error: ${fields.message}`;
    } catch { /* keep the type */ }
  }
  return new Error(`Cannot benchmark (${what}): the hub answered ${detail}`);
}

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function pct(share: number): string {
  return `${(share * 100).toFixed(0)}%`;
}

// ------------------------------------------------------------ entry points

interface WorkerScope {
  onmessage: ((event: MessageEvent<Job | Control>) => void) | null;
  postMessage(message: Reply): void;
}

const scope = globalThis as unknown as {
  WorkerGlobalScope?: abstract new () => unknown;
};
const inWorker = scope.WorkerGlobalScope !== undefined &&
  globalThis instanceof scope.WorkerGlobalScope;

if (import.meta.main && inWorker) {
  const self = globalThis as unknown as WorkerScope;
  self.onmessage = (event) => {
    const message = event.data;
    if (message.kind === "mark") {
      self.postMessage({
        type: "mark",
        mark: { bytes: control.bytes, at: performance.now() },
      });
      return;
    }
    if (message.kind === "stop") {
      control.stop.resolve();
      return;
    }
    runJob(message, (e) => self.postMessage({ type: "event", event: e }))
      .then(
        (result) => self.postMessage({ type: "done", result }),
        (error) =>
          self.postMessage({
            type: "error",
            error: String(error?.message ?? error),
          }),
      );
  };
} else if (import.meta.main) {
  try {
    await runHubBench();
  } catch (error) {
    new Logger({ name: "bench" }).error((error as Error).message);
    Deno.exit(1);
  }
}
