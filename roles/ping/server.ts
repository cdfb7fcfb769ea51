/**
 * `socklab --role udp-ping-server`: answers every UDP ping with a pong,
 * through a simulated bad network when asked.
 *
 * @module
 */

import { UsageError } from "../../lib/flags.ts";
import { UdpServer } from "../../lib/udp_server.ts";
import { type Role, serverOptions, serveUntilStopped } from "../role.ts";
import { MAX_SEED, randomSeed } from "./random.ts";
import { pingService } from "./service.ts";
import { NetworkSimulation } from "./simulation.ts";

/** The udp-ping-server role. */
export const udpPingServerRole: Role = {
  name: "udp-ping-server",
  summary: "answer UDP pings, with simulated loss, delay and reordering",
  kind: "server",
  files: "none",
  flags: [
    {
      name: "loss",
      type: "number",
      doc: "share of replies lost, 0 to 1",
      default: 0,
      value: "RATIO",
    },
    {
      name: "delay",
      type: "duration",
      doc: "added to every reply",
      default: "0ms",
    },
    {
      name: "jitter",
      type: "duration",
      doc: "the delay varies by up to this much either way",
      default: "0ms",
    },
    {
      name: "reorder",
      type: "number",
      doc: "share of replies held back until the next one has gone, 0 to 1",
      default: 0,
      value: "RATIO",
    },
    {
      name: "seed",
      type: "number",
      doc: "seed of the simulation, to repeat a run (default: random, logged)",
      value: "N",
    },
  ],
  examples: [
    "socklab --role udp-ping-server --port 9000",
    "socklab --role udp-ping-server --port 9000 --loss 0.3 --delay 20ms --jitter 10ms --reorder 0.1 --seed 42",
  ],
  run(ctx) {
    const { flags } = ctx;
    const simulation = new NetworkSimulation({
      loss: ratio(flags.number("loss") ?? 0, "loss"),
      delayMs: flags.number("delay") ?? 0,
      jitterMs: flags.number("jitter") ?? 0,
      reorder: ratio(flags.number("reorder") ?? 0, "reorder"),
      seed: seed(flags.number("seed")),
    });
    if (simulation.active) {
      ctx.log.info("simulating a bad network", {
        loss: simulation.loss,
        delay: `${simulation.delayMs}ms`,
        jitter: `${simulation.jitterMs}ms`,
        reorder: simulation.reorder,
        seed: simulation.seed,
      });
    }
    const server = new UdpServer({
      ...serverOptions(ctx),
      service: pingService({
        simulation: simulation.active ? simulation : undefined,
        log: ctx.log,
      }),
    });
    return serveUntilStopped(ctx, server, "udp");
  },
};

function ratio(value: number, flag: string): number {
  if (!(value >= 0 && value <= 1)) {
    throw new UsageError(
      `--${flag} must be from 0 to 1 (0.3 is 30%), not ${value}`,
    );
  }
  return value;
}

function seed(value: number | undefined): number {
  if (value === undefined) return randomSeed();
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEED) {
    throw new UsageError(
      `--seed must be a whole number from 0 to ${MAX_SEED}, not ${value}`,
    );
  }
  return value;
}
