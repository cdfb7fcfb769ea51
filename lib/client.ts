/**
 * The client side of a TLV connection: connect (TCP or TLS) with a timeout,
 * say hello, then pipeline requests matched to responses by id.
 *
 * @module
 */

import {
  DEFAULT_LIMITS,
  peekId,
  TlvDecodeError,
} from "../protocol/tlv/frame.ts";
import { decodeMessage } from "../protocol/tlv/message.ts";
import { RemoteError } from "../protocol/tlv/protocol_error.ts";
import {
  type Message,
  type MessageFields,
  type MessageName,
  PROTOCOL_VERSION,
  type ServiceName,
} from "../protocol/tlv/registry.ts";
import { PinError, pinnedCertificate } from "./tls_pin.ts";
import { FrameConnection } from "./frame_conn.ts";
import type { Tracer } from "./trace.ts";
import { VERSION } from "./version.ts";

/** A connection that could not be made or broke; exit code 1. */
export class ConnectionError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** Options for {@linkcode connectTlv}. */
export interface ConnectOptions {
  /** Server address. Default 127.0.0.1. */
  hostname?: string;
  /** Server port. */
  port: number;
  /** Service to say hello to. */
  service: ServiceName;
  /** Connect over TLS; `caCerts` adds trusted roots (PEM). */
  tls?: { caCerts?: string[]; pin?: string } | undefined;
  /** Bound on connecting, on the hello and on waiting for any answer (ms). Default 10 000. */
  timeoutMs?: number;
  /** `--trace` printer. */
  tracer?: Tracer | undefined;
  /** Aborting closes the connection. */
  signal?: AbortSignal;
}

type Fields<M extends MessageName> = MessageFields<M>;
type WithoutId<T> = Omit<T, "id">;

interface Pending {
  resolve(message: Message): void;
  reject(error: Error): void;
}

/** Message types that end a stream once they are yielded. */
const TERMINAL: ReadonlySet<MessageName> = new Set<MessageName>([
  "bulk_end",
  "live_end",
  "file_put_ok",
]);

/** Options for {@linkcode TlvClient.stream}. */
export interface StreamOptions {
  /**
   * Frames held for a consumer that is behind before the client stops
   * reading the socket (every request on the connection waits then).
   * Default 16 (1 MiB of `bulk_data`).
   */
  highWaterMark?: number;
  /**
   * Lend the frames instead of giving them: the `bytes` fields (a
   * `bulk_data`'s `data`) are views of the buffer the client reads the
   * socket into, valid only until the consumer asks for the next frame.
   * The client then reads again only once the consumer has taken every
   * frame and asked for more, so nothing is copied or allocated per frame.
   * For a consumer that writes each chunk out before the next (a download
   * to a file or a hash). Default false.
   */
  borrow?: boolean;
}

/** What a {@linkcode MessageStream} tells its client. */
interface StreamHooks {
  /** The consumer took a frame: the reader may resume. */
  taken(): void;
  /** The consumer stopped before the end. */
  cancel(): void;
}

/**
 * Every frame answering one request, in arrival order: the frames of a bulk
 * transfer or a live channel. Ends after `bulk_end`, `live_end` or
 * `file_put_ok` (yielded); an `error` frame for the id throws
 * {@linkcode RemoteError}, a broken connection {@linkcode ConnectionError},
 * each after the frames that came before it. Breaking out of the loop (or disposing) stops the stream; later
 * frames for its id are dropped. Made by {@linkcode TlvClient.stream}.
 */
export class MessageStream
  implements AsyncIterableIterator<Message>, AsyncDisposable {
  /** The request id the frames answer. */
  readonly id: number;
  /** Frames held before the client stops reading the socket. */
  readonly highWaterMark: number;
  /** Whether frames are lent (see {@linkcode StreamOptions.borrow}). */
  readonly borrow: boolean;
  #hooks: StreamHooks;
  #queue: Message[] = [];
  #ended = false;
  #error: Error | undefined;
  #arrived: PromiseWithResolvers<void> | undefined;

  /** Use {@linkcode TlvClient.stream}. */
  constructor(
    id: number,
    highWaterMark: number,
    hooks: StreamHooks,
    borrow = false,
  ) {
    this.id = id;
    this.highWaterMark = highWaterMark;
    this.borrow = borrow;
    this.#hooks = hooks;
  }

  /** Frames received and not yet taken by the consumer. */
  get buffered(): number {
    return this.#queue.length;
  }

  /**
   * Whether the consumer is done with every frame it was given: all taken
   * and waiting for the next one, or the stream is over. A lent frame's
   * bytes may be overwritten only then.
   */
  get idle(): boolean {
    return this.#ended ||
      (this.#queue.length === 0 && this.#arrived !== undefined);
  }

  /** @internal Called by the client: a frame for this id. */
  _push(message: Message): void {
    if (this.#ended) return;
    this.#queue.push(message);
    this.#wake();
  }

  /** @internal Called by the client: no more frames will come. */
  _end(error?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#wake();
  }

  #wake(): void {
    this.#arrived?.resolve();
    this.#arrived = undefined;
  }

  /** The next frame; done after the terminal frame. */
  async next(): Promise<IteratorResult<Message, undefined>> {
    for (;;) {
      const message = this.#queue.shift();
      if (message !== undefined) {
        this.#hooks.taken();
        return { value: message, done: false };
      }
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        throw error;
      }
      if (this.#ended) return { value: undefined, done: true };
      this.#arrived ??= Promise.withResolvers<void>();
      // Done with what it had: a borrowing stream's reader may go on.
      if (this.borrow) this.#hooks.taken();
      await this.#arrived.promise;
    }
  }

  /** Stops the stream; frames still coming for its id are dropped. */
  return(): Promise<IteratorResult<Message, undefined>> {
    if (!this.#ended) {
      this.#ended = true;
      this.#hooks.cancel();
    }
    this.#queue = [];
    this.#error = undefined;
    this.#wake();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This object. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Same as {@linkcode return}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/**
 * A connected, greeted TLV client.
 *
 * @example
 * ```ts
 * await using client = await connectTlv({ port, service: "calc" });
 * const answer = await client.request("calc_request", { expression: "1+2" });
 * ```
 */
export class TlvClient implements AsyncDisposable {
  readonly fc: FrameConnection;
  /** What the server said in its hello_ok. */
  readonly hello: Fields<"hello_ok">;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #streams = new Map<number, MessageStream>();
  /** Ids of streams stopped early whose terminal frame has not come. */
  #abandoned = new Set<number>();
  /** Set while the reader waits for a stream's consumer to catch up. */
  #paused: PromiseWithResolvers<void> | undefined;
  #timeoutMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failure: Error | undefined;
  #loop: Promise<void>;
  #onPush: ((message: Message) => void) | undefined;

  #backlog: Message[];

  /** Use {@linkcode connectTlv}. */
  constructor(
    fc: FrameConnection,
    hello: Fields<"hello_ok">,
    options: { timeoutMs: number; backlog?: Message[] },
  ) {
    this.fc = fc;
    this.hello = hello;
    this.#timeoutMs = options.timeoutMs;
    this.#backlog = options.backlog ?? [];
    this.#loop = this.#readLoop();
  }

  /** Requests waiting for their answer, streams included. */
  get pending(): number {
    return this.#pending.size + this.#streams.size;
  }

  /** Receives messages that answer no request (server pushes). */
  onPush(listener: (message: Message) => void): void {
    this.#onPush = listener;
    const early = this.#backlog;
    this.#backlog = [];
    for (const message of early) listener(message);
  }

  /**
   * Sends a request with a fresh id and resolves with the answer that echoes
   * it. An `error` frame rejects with {@linkcode RemoteError}. Requests
   * made in the same turn share one socket write.
   */
  request<M extends MessageName>(
    type: M,
    fields: WithoutId<Fields<M>>,
  ): Promise<Message> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#takeId();
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    this.#pending.set(id, { resolve, reject });
    if (this.#timer === undefined && !this.#paused) this.#arm();
    this.fc.send(type, { ...fields, id } as unknown as Fields<M>);
    return promise;
  }

  /**
   * Sends a request with a fresh id and yields every frame that answers it
   * (see {@linkcode MessageStream}), while `request()` and other streams
   * go on over the same connection.
   *
   * Memory stays bounded: when the consumer is `highWaterMark` frames
   * behind, the client stops reading the socket until it catches up, and
   * TCP flow control slows the sender. Meanwhile no other answer on the
   * connection is read either, so consume streams promptly. The timeout
   * bounds each wait for the next frame, not a pause the consumer causes.
   *
   * @example
   * ```ts
   * for await (const m of client.stream("video_get", { name: "a.mp4" })) {
   *   if (m.type === "bulk_data") await file.write(m.fields.data);
   * }
   * ```
   */
  stream<M extends MessageName>(
    type: M,
    fields: WithoutId<Fields<M>>,
    options: StreamOptions = {},
  ): MessageStream {
    const highWaterMark = options.highWaterMark ?? 16;
    if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 1) {
      throw new RangeError(
        `Cannot open a stream: highWaterMark ${highWaterMark} is not a positive integer`,
      );
    }
    const id = this.#takeId();
    const stream = new MessageStream(id, highWaterMark, {
      taken: () => this.#maybeResume(),
      cancel: () => {
        if (this.#streams.delete(id)) this.#abandoned.add(id);
        this.#maybeResume();
      },
    }, options.borrow === true);
    if (this.#failure) {
      stream._end(this.#failure);
      return stream;
    }
    this.#streams.set(id, stream);
    if (this.#timer === undefined && !this.#paused) this.#arm();
    this.fc.send(type, { ...fields, id } as unknown as Fields<M>);
    return stream;
  }

  /** The next id not in use by a request or a stream. */
  #takeId(): number {
    let id: number;
    do {
      id = this.#nextId;
      this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1;
    } while (
      this.#pending.has(id) || this.#streams.has(id) || this.#abandoned.has(id)
    );
    return id;
  }

  /**
   * Whether some stream's consumer is a high-water mark behind, or still
   * holds frames lent from the read buffer.
   */
  #congested(): boolean {
    for (const s of this.#streams.values()) {
      if (s.buffered >= s.highWaterMark) return true;
      if (s.borrow && !s.idle) return true;
    }
    return false;
  }

  /** Whether a stream borrows frames: the read buffer is then reused. */
  #lending(): boolean {
    for (const s of this.#streams.values()) if (s.borrow) return true;
    return false;
  }

  #maybeResume(): void {
    if (this.#paused && !this.#congested()) this.#paused.resolve();
  }

  /** Sends a message that expects no answer. */
  send<M extends MessageName>(type: M, fields: Fields<M>): void {
    this.fc.send(type, fields);
  }

  /**
   * Starts the wait for answers again: the caller is still sending a long
   * request (an upload) and the peer is taking its bytes, so its answer is
   * not late yet. No-op when nothing is awaited.
   */
  extendTimeout(): void {
    if (this.#timer !== undefined) this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#fail(
        new ConnectionError(
          `no answer from ${this.fc.peer} within ${this.#timeoutMs} ms`,
        ),
      );
    }, this.#timeoutMs);
  }

  async #readLoop(): Promise<void> {
    try {
      for (;;) {
        const lend = this.#lending();
        const frames = await this.fc.readFrames({ lend });
        if (frames === null) {
          this.#fail(
            new ConnectionError(`${this.fc.peer} closed the connection`),
          );
          return;
        }
        for (const frame of frames) {
          // A borrowing stream's frames are decoded as views, not copies.
          const borrowed = lend && !frame.owned &&
            this.#streams.get(peekId(frame.body) ?? 0)?.borrow === true;
          this.#deliver(
            decodeMessage(
              borrowed ? { ...frame, owned: true } : frame,
              DEFAULT_LIMITS,
            ),
          );
        }
        while (this.#congested() && !this.#failure) {
          // Waiting on our consumer, not on the server: no timeout.
          clearTimeout(this.#timer);
          this.#timer = undefined;
          this.#paused = Promise.withResolvers<void>();
          await this.#paused.promise;
          this.#paused = undefined;
        }
        if (this.#failure) return;
        if (this.#pending.size > 0 || this.#streams.size > 0) this.#arm();
        else {
          clearTimeout(this.#timer);
          this.#timer = undefined;
        }
      }
    } catch (error) {
      this.#fail(
        error instanceof TlvDecodeError
          ? new ConnectionError(
            `bad frame from ${this.fc.peer}: ${error.message}`,
          )
          : new ConnectionError(
            `connection to ${this.fc.peer} failed: ${(error as Error).message}`,
            { cause: error },
          ),
      );
    }
  }

  #deliver(message: Message): void {
    const id = "id" in message.fields ? message.fields.id : undefined;
    if (id !== undefined && this.#deliverToStream(id, message)) return;
    const waiter = id === undefined ? undefined : this.#pending.get(id);
    if (waiter === undefined || id === undefined) {
      if (message.type === "error") {
        this.#fail(new RemoteError(message.fields));
      } else if (this.#onPush) {
        this.#onPush(message);
      } else {
        this.#backlog.push(message);
      }
      return;
    }
    this.#pending.delete(id);
    if (message.type === "error") {
      waiter.reject(new RemoteError(message.fields));
    } else waiter.resolve(message);
  }

  /** Whether `message` belongs to a stream (live or abandoned). */
  #deliverToStream(id: number, message: Message): boolean {
    const terminal = message.type === "error" || TERMINAL.has(message.type);
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (!this.#abandoned.has(id)) return false;
      if (terminal) this.#abandoned.delete(id);
      return true;
    }
    if (message.type === "error") {
      stream._end(new RemoteError(message.fields));
    } else {
      stream._push(message);
      if (terminal) stream._end();
    }
    if (terminal) this.#streams.delete(id);
    return true;
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    for (const s of this.#streams.values()) s._end(error);
    this.#streams.clear();
    this.#abandoned.clear();
    this.#paused?.resolve();
    this.fc.close();
  }

  /** Waits for queued requests to be written, then closes. */
  async close(): Promise<void> {
    await this.fc.closeAfterFlush(1000);
    this.#fail(new ConnectionError("connection closed"));
    await this.#loop;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Connects, sends hello and waits for hello_ok.
 *
 * Throws {@linkcode ConnectionError} when the server cannot be reached or
 * does not answer in time, {@linkcode RemoteError} when it refuses the hello
 * (wrong service, version, busy).
 */
export async function connectTlv(options: ConnectOptions): Promise<TlvClient> {
  const hostname = options.hostname ?? "127.0.0.1";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const where = `${hostname}:${options.port}`;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal
    ? AbortSignal.any([timeout, options.signal])
    : timeout;
  let conn: Deno.Conn;
  try {
    const tls = options.tls;
    // A pin trusts exactly the certificate whose SHA-256 it names.
    const caCerts = tls?.pin !== undefined
      ? [await pinnedCertificate(hostname, options.port, tls.pin, signal)]
      : tls?.caCerts;
    conn = tls
      ? await withSignal(
        Deno.connectTls({
          hostname,
          port: options.port,
          ...(caCerts ? { caCerts } : {}),
        }),
        signal,
      )
      : await Deno.connect({ hostname, port: options.port, signal });
  } catch (error) {
    throw new ConnectionError(describeConnectError(error, where, timeoutMs), {
      cause: error,
    });
  }
  const fc = new FrameConnection(conn, {
    tracer: options.tracer,
    // A download grows it to 256 KiB: a quarter of the reads of 64 KiB.
    maxReadBufferSize: 256 * 1024,
  });
  const onAbort = () => fc.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  fc.send("hello", {
    version: PROTOCOL_VERSION,
    service: options.service,
    agent: `socklab/${VERSION}`,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    fc.close();
  }, timeoutMs);
  try {
    let firstChunk = true;
    for (;;) {
      const chunk = await fc.readRaw().catch((error) => {
        throw new ConnectionError(
          timedOut
            ? `no hello from ${where} within ${timeoutMs} ms`
            : describeHelloError(error, where, options.tls !== undefined),
          { cause: error },
        );
      });
      if (chunk === null) {
        throw new ConnectionError(
          timedOut
            ? `no hello from ${where} within ${timeoutMs} ms`
            : `${where} closed the connection during hello`,
        );
      }
      // A TLS server answers a plaintext hello with a TLS alert record.
      if (firstChunk && !options.tls && looksLikeTls(chunk)) {
        throw new ConnectionError(
          `${where} speaks TLS, not plaintext TLV: connect with --tls (and --ca or --pin to trust its certificate)`,
        );
      }
      firstChunk = false;
      const frames = fc.pushFrames(chunk);
      const [first, ...rest] = frames.map((f) => decodeMessage(f));
      if (first === undefined) continue;
      if (first.type === "error") throw new RemoteError(first.fields);
      if (first.type !== "hello_ok") {
        throw new ConnectionError(
          `${where} answered the hello with ${first.type}`,
        );
      }
      // A server may push right after hello_ok, in the same chunk.
      return new TlvClient(fc, first.fields, { timeoutMs, backlog: rest });
    }
  } catch (error) {
    fc.close();
    if (error instanceof TlvDecodeError) {
      throw new ConnectionError(
        `${where} does not speak the socklab protocol: ${error.message}`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

async function withSignal<T extends Deno.Conn>(
  p: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) throw signal.reason;
  const { promise, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([p, promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
    // A connection that lands after the timeout is closed, not leaked.
    if (signal.aborted) p.then((c) => c.close(), () => {});
  }
}

/** Whether `bytes` start like a TLS record (handshake or alert, TLS 1.x). */
function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[0] === 0x15 || bytes[0] === 0x16) &&
    bytes[1] === 0x03;
}

function describeHelloError(
  error: unknown,
  where: string,
  tls: boolean,
): string {
  if (tls && error instanceof Deno.errors.UnexpectedEof) {
    return `TLS handshake with ${where} failed: the server closed the connection (is it a plaintext server? connect without --tls)`;
  }
  return `connection to ${where} failed during hello: ${
    (error as Error).message
  }`;
}

function describeConnectError(
  error: unknown,
  where: string,
  timeoutMs: number,
): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return `cannot connect to ${where}: connection refused (is the server running?)`;
  }
  if (
    error instanceof DOMException &&
    (error.name === "TimeoutError" || error.name === "AbortError")
  ) {
    return `cannot connect to ${where}: no answer within ${timeoutMs} ms`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `cannot connect to ${where}: network access is not granted to this role`;
  }
  if (error instanceof PinError) return `cannot connect: ${error.message}`;
  if ((error as { code?: string }).code === "ECONNREFUSED") {
    return `cannot connect to ${where}: connection refused (is the server running?)`;
  }
  return `cannot connect to ${where}: ${(error as Error).message}`;
}
