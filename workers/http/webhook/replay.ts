// Delivery ids already acted on. Signatures carry no timestamp, so a captured delivery stays valid
// forever; remembering the last ids turns a replay into a no-op. Bounded: the oldest go first.

export class SeenDeliveries {
  private readonly ids = new Set<string>();
  constructor(private readonly max = 10_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }
}
