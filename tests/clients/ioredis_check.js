// ioredis against rust-keyval with its default options (ioredis 6 negotiates RESP3 with
// HELLO 3 and runs its INFO ready check). Exits non-zero on the first mismatch.
// Usage: node ioredis_check.js PORT   (ioredis resolvable through NODE_PATH)
"use strict";
const assert = require("assert");
const Redis = require("ioredis");

const port = Number(process.argv[2]);

async function main() {
  const r = new Redis({ port, host: "127.0.0.1", lazyConnect: false });
  const check = async (what, got, want) => {
    assert.deepStrictEqual(await got, want, what);
    console.log(`ok   ${what}`);
  };
  await check("FLUSHALL", r.flushall(), "OK");
  const me = await r.call("CLIENT", "INFO");
  await check("negotiated RESP3 by default", /\bresp=3\b/.test(String(me)), true);
  await check("PING", r.ping(), "PONG");
  await check("SET", r.set("greeting", "hello"), "OK");
  await check("GET", r.get("greeting"), "hello");
  await check("SET EX", r.set("tmp", "v", "EX", 100), "OK");
  await check("TTL", r.ttl("tmp"), 100);
  await check("MGET", r.mget("greeting", "nope"), ["hello", null]);
  await check("INCR", r.incr("n"), 1);
  await check("INCRBY", r.incrby("n", 4), 5);
  await check("EXISTS", r.exists("greeting", "nope"), 1);
  await check("multi/exec", r.multi().set("m", 1).incr("m").get("m").exec(), [
    [null, "OK"],
    [null, 2],
    [null, "2"],
  ]);
  await check("pipeline", r.pipeline().incr("c").incr("c").exec(), [
    [null, 1],
    [null, 2],
  ]);
  let failed = null;
  try {
    await r.incr("greeting");
  } catch (e) {
    failed = e.message;
  }
  await check("INCR error text", failed, "ERR value is not an integer or out of range");

  // Pub/sub, the ioredis way: a second connection in subscriber mode, "message" events.
  const sub = new Redis({ port, host: "127.0.0.1" });
  await check("subscribe count", sub.subscribe("events"), 1);
  await check("psubscribe count", sub.psubscribe("ev*"), 2);
  const received = new Promise((resolve) => {
    const got = [];
    const done = () => got.length === 2 && resolve(got.sort());
    sub.on("message", (channel, message) => {
      got.push(`message ${channel} ${message}`);
      done();
    });
    sub.on("pmessage", (pattern, channel, message) => {
      got.push(`pmessage ${pattern} ${channel} ${message}`);
      done();
    });
  });
  await check("PUBLISH receivers", r.publish("events", "hello"), 2);
  await check("messages delivered", received, [
    "message events hello",
    "pmessage ev* events hello",
  ]);
  await check("PUBSUB NUMSUB", r.pubsub("NUMSUB", "events"), ["events", 1]);
  await sub.unsubscribe("events");
  await sub.punsubscribe("ev*");
  await check("PUBLISH after unsubscribe", r.publish("events", "nobody"), 0);
  await sub.quit();
  await r.quit();
  console.log("all ioredis checks passed");
}

main().catch((e) => {
  console.error("FAIL", e && e.message ? e.message : e);
  process.exit(1);
});
