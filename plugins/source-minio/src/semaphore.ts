/**
 * A weighted semaphore: `acquire(n)` waits until `n` units of the capacity are free. Waiters are
 * served in order, so a large request is not starved by small ones. A request larger than the
 * whole capacity is granted the whole capacity.
 */
export class Semaphore {
  private free: number;
  private readonly waiting: Array<{ units: number; grant: () => void }> = [];

  constructor(private readonly capacity: number) {
    this.free = capacity;
  }

  async acquire(units = 1): Promise<() => void> {
    const need = Math.min(units, this.capacity);
    if (this.waiting.length === 0 && this.free >= need) {
      this.free -= need;
    } else {
      await new Promise<void>((grant) => this.waiting.push({ units: need, grant }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free += need;
      this.wake();
    };
  }

  private wake(): void {
    while (this.waiting.length > 0 && this.free >= this.waiting[0]!.units) {
      const next = this.waiting.shift()!;
      this.free -= next.units;
      next.grant();
    }
  }
}
