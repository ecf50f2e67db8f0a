// The queue behind group commits: items submitted while a batch is being written wait, and go
// together in the next one. A batch starts on the next turn of the event loop (setImmediate), never
// in the middle of one: the callers woken by the batch that just finished, and the requests read in
// the same turn, submit their next items first and go in the same batch instead of one of their own.
//
// A batch may instead hand its answers to `later`: then, when it finishes, the items that queued
// while it was written go at once, and only then are its callers answered. Their work after the
// answer (a reply to build, MAC and send) then overlaps the database writing the next batch, instead
// of the database waiting for it.

export interface BatchQueueOptions<T> {
  /** How many items one batch may take. */
  maxBatch: number;
  /** How many batches may be running at once. */
  maxInFlight: number;
  /**
   * Writes a batch and settles its items, directly or through `later` (called once the batch is over
   * and the next has started); it does not throw.
   */
  run: (batch: T[], later: (answer: () => void) => void) => Promise<void>;
  /** Takes the next batch out of the queue (by default its first `maxBatch` items). */
  take?: (queue: T[], maxBatch: number) => { batch: T[]; rest: T[] };
}

export class BatchQueue<T> {
  readonly #options: BatchQueueOptions<T>;
  #queue: T[] = [];
  #inFlight = 0;
  #scheduled = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: BatchQueueOptions<T>) {
    this.#options = options;
  }

  add(item: T): void {
    this.#queue.push(item);
    this.#schedule();
  }

  /** True while anything is queued or being written. */
  get busy(): boolean {
    return this.#inFlight > 0 || this.#queue.length > 0;
  }

  /** Resolves once nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const { maxBatch, maxInFlight, run, take = takeFirst } = this.#options;
    while (this.#inFlight < maxInFlight && this.#queue.length > 0) {
      const { batch, rest } = take(this.#queue, maxBatch);
      this.#queue = rest;
      this.#inFlight++;
      const answers: Array<() => void> = [];
      void run(batch, (answer) => answers.push(answer)).finally(() => {
        this.#inFlight--;
        if (answers.length > 0) {
          this.#pump();
          for (const answer of answers) answer();
        }
        if (this.#queue.length > 0) this.#schedule();
        else if (!this.busy) this.#wakeIdle();
      });
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

function takeFirst<T>(queue: T[], maxBatch: number): { batch: T[]; rest: T[] } {
  return { batch: queue.slice(0, maxBatch), rest: queue.slice(maxBatch) };
}
