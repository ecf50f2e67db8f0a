import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchQueue } from './batch-queue.ts';

/** A queue whose batches are recorded and finish when the test says so. */
function recordingQueue(options: { maxBatch: number; maxInFlight: number }) {
  const batches: number[][] = [];
  const finishers: Array<() => void> = [];
  let running = 0;
  let mostRunning = 0;
  const queue = new BatchQueue<{ n: number; done: () => void }>({
    ...options,
    run: async (batch) => {
      batches.push(batch.map((item) => item.n));
      running++;
      mostRunning = Math.max(mostRunning, running);
      await new Promise<void>((resolve) => finishers.push(resolve));
      running--;
      for (const item of batch) item.done();
    },
  });
  const submit = (n: number) => new Promise<void>((done) => queue.add({ n, done }));
  const finishAll = () => {
    for (const finish of finishers.splice(0)) finish();
  };
  return { queue, batches, submit, finishAll, mostRunning: () => mostRunning };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Waits (a few turns at most) until `count` batches have started. */
async function started(batches: unknown[], count: number): Promise<void> {
  for (let i = 0; i < 10 && batches.length < count; i++) await turn();
  assert.equal(batches.length, count, `${count} batches started`);
}

describe('BatchQueue', () => {
  it('takes what was submitted in one turn as one batch, at most maxBatch items', async () => {
    const q = recordingQueue({ maxBatch: 3, maxInFlight: 4 });
    const all = [1, 2, 3, 4, 5].map((n) => q.submit(n));
    await turn();
    assert.deepEqual(q.batches, [
      [1, 2, 3],
      [4, 5],
    ]);
    q.finishAll();
    await Promise.all(all);
    assert.equal(q.queue.busy, false);
  });

  it('never runs more than maxInFlight batches; the rest wait for one to finish', async () => {
    const q = recordingQueue({ maxBatch: 1, maxInFlight: 2 });
    const all = [1, 2, 3].map((n) => q.submit(n));
    await turn();
    assert.deepEqual(q.batches, [[1], [2]]);
    q.finishAll();
    await started(q.batches, 3);
    assert.deepEqual(q.batches, [[1], [2], [3]]);
    q.finishAll();
    await Promise.all(all);
    assert.equal(q.mostRunning(), 2);
  });

  it('callers woken by a batch submit again before the next batch starts: their items go together', async () => {
    const q = recordingQueue({ maxBatch: 100, maxInFlight: 1 });
    const writers = [0, 1, 2, 3].map(async (w) => {
      for (let round = 0; round < 3; round++) await q.submit(w * 10 + round);
    });
    for (let round = 1; round <= 3; round++) {
      await started(q.batches, round);
      q.finishAll();
    }
    await Promise.all(writers);
    assert.deepEqual(q.batches, [
      [0, 10, 20, 30],
      [1, 11, 21, 31],
      [2, 12, 22, 32],
    ]);
  });

  it('idle() resolves only once every batch, queued or running, has finished', async () => {
    const q = recordingQueue({ maxBatch: 1, maxInFlight: 1 });
    await q.queue.idle(); // nothing queued: at once
    const all = [1, 2].map((n) => q.submit(n));
    let idle = false;
    const waiting = q.queue.idle().then(() => {
      idle = true;
    });
    await started(q.batches, 1);
    q.finishAll();
    await started(q.batches, 2);
    assert.equal(idle, false, 'the second batch is still running');
    q.finishAll();
    await Promise.all([...all, waiting]);
    assert.equal(idle, true);
    assert.equal(q.queue.busy, false);
  });

  it('answers given through later come after the next batch has started with what queued meanwhile', async () => {
    const events: string[] = [];
    const finishers: Array<() => void> = [];
    const queue = new BatchQueue<{ n: number; done: () => void }>({
      maxBatch: 10,
      maxInFlight: 1,
      run: async (batch, later) => {
        events.push(`start ${batch.map((item) => item.n).join(',')}`);
        await new Promise<void>((resolve) => finishers.push(resolve));
        later(() => {
          events.push(`answer ${batch.map((item) => item.n).join(',')}`);
          for (const item of batch) item.done();
        });
      },
    });
    const submit = (n: number) => new Promise<void>((done) => queue.add({ n, done }));
    const first = submit(1);
    await started(events, 1);
    const queued = [submit(2), submit(3)];
    await turn();
    assert.deepEqual(events, ['start 1'], 'one batch at a time: 2 and 3 wait');
    finishers.shift()!();
    await first;
    assert.deepEqual(events, ['start 1', 'start 2,3', 'answer 1']);
    finishers.shift()!();
    await Promise.all(queued);
    assert.deepEqual(events, ['start 1', 'start 2,3', 'answer 1', 'answer 2,3']);
    assert.equal(queue.busy, false);
  });
});
