// BullMQ 5 against rust-keyval with its default options: a job queue built on Lua scripts
// (EVALSHA with many keys), streams for its events (XADD, XREAD BLOCK), blocking pops
// (BZPOPMIN) and sorted sets for delays and priorities. Runs jobs through a worker,
// including a failure retried with a backoff, a delayed job, a prioritized one, a
// parent/child flow and a job scheduler, then checks every count. Exits non-zero on the
// first mismatch.
// Usage: node bullmq_check.js PORT   (bullmq resolvable through NODE_PATH)
"use strict";
const assert = require("assert");
const { Queue, Worker, QueueEvents, FlowProducer } = require("bullmq");

const port = Number(process.argv[2]);
const connection = { host: "127.0.0.1", port };

const until = async (what, cond, ms = 15000) => {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function main() {
  const queue = new Queue("jobs", { connection });
  await queue.obliterate({ force: true });
  const events = new QueueEvents("jobs", { connection });
  await events.waitUntilReady();
  const completed = [];
  const failed = [];
  const worker = new Worker(
    "jobs",
    async (job) => {
      if (job.data.fail) throw new Error("boom");
      return job.data.x * 2;
    },
    { connection, concurrency: 4 },
  );
  worker.on("completed", (job, result) => completed.push([job.name, result]));
  worker.on("failed", (job, err) => failed.push([job.name, job.attemptsMade, err.message]));

  for (let i = 0; i < 20; i++) await queue.add("plain", { x: i });
  await queue.add("bad", { fail: true }, { attempts: 2, backoff: { type: "fixed", delay: 50 } });
  const delayed = await queue.add("delayed", { x: 100 }, { delay: 300 });
  assert.strictEqual(await delayed.getState(), "delayed", "a delayed job waits in the delayed set");
  await queue.add("prio", { x: 7 }, { priority: 3 });
  const waited = await queue.add("waited", { x: 21 });
  assert.strictEqual(await waited.waitUntilFinished(events, 15000), 42, "result through QueueEvents");
  console.log("ok   a job's result reached QueueEvents (streams, XREAD BLOCK)");

  await until("23 completed jobs and 2 failed attempts", () => completed.length >= 23 && failed.length >= 2);
  assert.deepStrictEqual(failed, [["bad", 1, "boom"], ["bad", 2, "boom"]], "retried once, then failed");
  assert.ok(completed.some(([name, r]) => name === "delayed" && r === 200), "the delayed job ran");
  assert.ok(completed.some(([name, r]) => name === "prio" && r === 14), "the prioritized job ran");
  const counts = await queue.getJobCounts();
  assert.deepStrictEqual(
    counts,
    { active: 0, completed: 23, delayed: 0, failed: 1, paused: 0, prioritized: 0, waiting: 0, "waiting-children": 0 },
    "job counts",
  );
  console.log("ok   23 jobs completed, a failing job retried with backoff then failed, counts match");

  const flows = new FlowProducer({ connection });
  const tree = await flows.add({
    name: "parent",
    queueName: "jobs",
    data: { x: 1 },
    children: [{ name: "child", queueName: "jobs", data: { x: 2 } }],
  });
  await until("the flow's parent to complete", async () => (await tree.job.getState()) === "completed");
  const childValues = await tree.job.getChildrenValues();
  assert.deepStrictEqual(Object.values(childValues), [4], "the parent sees its child's result");
  console.log("ok   a parent job ran after its child (flows)");

  await queue.upsertJobScheduler("every-100ms", { every: 100 }, { name: "repeat", data: { x: 5 } });
  await until("two runs of the scheduled job", () => completed.filter(([n]) => n === "repeat").length >= 2);
  await queue.removeJobScheduler("every-100ms");
  console.log("ok   a job scheduler repeated its job");

  await queue.pause();
  assert.strictEqual(await queue.isPaused(), true, "paused");
  await queue.resume();
  await worker.close();
  await queue.obliterate({ force: true });
  await Promise.all([queue.close(), events.close(), flows.close()]);
  console.log("checks passed");
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
