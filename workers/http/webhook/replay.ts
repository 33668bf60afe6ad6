// Bodies already acted on, by their SHA-256. No forge signs its delivery id, and signatures carry no
// timestamp: a captured delivery stays valid forever, under any id, with no id, or relabelled as
// another forge that signs the same way (Gitea's signature is GitHub's without the prefix). So the
// signed thing itself is the key: the same body a second time is a replay. A genuine new push
// always differs (its shas, its timestamps). Only verified bodies are remembered, so no one without
// the secret can push the real ones out; bounded all the same: the last `max`, oldest first out.

export const REMEMBERED_BODIES = 10_000;

export class SeenBodies {
  private readonly digests = new Set<string>();
  constructor(private readonly max = REMEMBERED_BODIES) {}

  has(digest: string): boolean {
    return this.digests.has(digest);
  }

  add(digest: string): void {
    this.digests.add(digest);
    if (this.digests.size > this.max) this.digests.delete(this.digests.values().next().value!);
  }
}
