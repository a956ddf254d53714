/** Bounds how much work is in flight: `acquire` waits while `limit` holders are active. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/**
 * Runs `work` for every item, at most `limit` at a time, in order of start; the first failure
 * rejects. `lane`, from 0 to `limit` − 1, says which of the `limit` runs an item is in: one item
 * per lane at a time.
 */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, work: (item: T, lane: number) => Promise<void>): Promise<void> {
  const queue = [...items];
  const lane = async (index: number): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await work(next, index);
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, (_, index) => lane(index)));
}
