// The background daemon's log, `.git/remote-daemon/log` (0600): one timestamped line per emitted
// message or detail. When it would pass `maxBytes` it is renamed to `log.1` (replacing the older
// one) and started afresh, so the two together never hold much more than twice that.

import { closeSync, fchmodSync, fstatSync, openSync, renameSync, statSync, writeSync } from 'node:fs';

export const MAX_LOG_BYTES = 1024 * 1024;

export class LogFile {
  private closed = false;
  private fd: number;
  private size: number;

  constructor(private readonly path: string, private readonly oldPath: string, private readonly maxBytes = MAX_LOG_BYTES) {
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
  }

  private open(): number {
    const fd = openSync(this.path, 'a', 0o600);
    fchmodSync(fd, 0o600);
    return fd;
  }

  /** Appends `line` with an ISO 8601 UTC timestamp. Synchronous: lines keep their order and survive a crash. */
  write(line: string): void {
    // Closed, its fd number may be another file's now (in the shared daemon, another repository's
    // log): a late line is dropped, never written there.
    if (this.closed) return;
    const bytes = Buffer.from(`${new Date().toISOString()} ${line}\n`, 'utf8');
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    try {
      writeSync(this.fd, bytes);
      this.size += bytes.length;
    } catch {
      // a full disk must not take the daemon down; the line is lost
    }
  }

  private rotate(): void {
    try {
      renameSync(this.path, this.oldPath);
    } catch (err) {
      // ENOENT: our file was already moved away (an earlier rotation whose open failed): open anew.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.size = 0; // keep writing where we were; try again after another maxBytes
        return;
      }
    }
    // Open the new file before closing the old one: if the open fails (no space, no inodes), the
    // old fd stays ours and open. Closing first would leave this.fd naming a closed number that
    // the next open() anywhere in the process reuses, and log lines would land in that file.
    let fd: number;
    try {
      fd = this.open();
    } catch {
      this.size = 0; // keep writing to the renamed file; try again after another maxBytes
      return;
    }
    closeSync(this.fd);
    this.fd = fd;
    this.size = 0;
  }

  /**
   * Opens the file again if its name no longer leads to the file being written (deleted, or
   * replaced by another); true when it did. Lines written meanwhile went to the old file.
   */
  reopenIfGone(): boolean {
    if (this.closed) return false;
    try {
      if (statSync(this.path).ino === fstatSync(this.fd).ino) return false;
    } catch {
      // no file under the name any more
    }
    let fd: number;
    try {
      fd = this.open();
    } catch {
      return false; // e.g. its directory is gone too; try again next time
    }
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
