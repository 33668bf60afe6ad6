// A real Prosody (Debian's `prosody`) on loopback for tests: its own config, data and certificate
// directory, a random c2s port, TLS required with a certificate for `localhost` signed by a CA made
// here with openssl (clients trust it through NODE_EXTRA_CA_CERTS, never by turning checks off),
// users made with `prosodyctl register`. Runs as root with `run_as_root = true`, the way CI runs.
//
//   const server = await startProsody({ smacks: true });
//   t.after(() => server.dispose());
//   await server.register('alice', 'secret');   // alice@localhost

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/ports.js';
import { refuseInUnitRun } from '../support/unitrun.js';

const execFileAsync = promisify(execFile);

export const DOMAIN = 'localhost';

export interface Prosody {
  domain: string;
  port: number;
  /** `xmpp://127.0.0.1:<port>`: what `remotedaemon.xmpp.service` names. */
  service: string;
  /** The CA certificate the server's certificate chains to (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  dir: string;
  register(user: string, password: string): Promise<string>;
  log(): Promise<string>;
  /** A user's roster as the server stored it: contact bare JID -> subscription ("both", "to", ...). */
  roster(user: string): Record<string, string>;
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same users. */
  start(): Promise<void>;
  dispose(): Promise<void>;
}

export interface ProsodyOptions {
  /** Stream management (XEP-0198, mod_smacks), as most public servers run it. */
  smacks?: boolean;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/** A throwaway CA and a certificate for `localhost` (SAN) signed by it. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=grd test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${DOMAIN}`, '-keyout', 'server.key', '-out', 'server.csr');
  await writeFile(join(dir, 'san.ext'), `subjectAltName=DNS:${DOMAIN}\nbasicConstraints=CA:FALSE\n`);
  await openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt');
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

function config(dir: string, port: number, certs: { cert: string; key: string }, smacks: boolean): string {
  const modules = ['roster', 'saslauth', 'tls', 'disco', 'ping', 'posix', 'admin_shell', ...(smacks ? ['smacks'] : [])];
  return `-- written by test/xmpp/prosody.ts
run_as_root = true
daemonize = false
pidfile = "${dir}/prosody.pid"
data_path = "${dir}/data"
admin_socket = "${dir}/admin.sock"
log = { { levels = { min = "debug" }, to = "file", filename = "${dir}/prosody.log" } }
modules_enabled = { ${modules.map((m) => `"${m}"`).join(', ')} }
modules_disabled = { "s2s", "offline", "register", "http", "bosh", "websocket", "proxy65" }
c2s_ports = { ${port} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
component_ports = { }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = false
ssl = { key = "${certs.key}", certificate = "${certs.cert}" }
VirtualHost "${DOMAIN}"
  ssl = { key = "${certs.key}", certificate = "${certs.cert}" }
`;
}

async function listening(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prosody exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('prosody did not start listening');
    // Polling a TCP port has no event to await: prosody says nothing on stdout when ready.
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startProsody(options: ProsodyOptions = {}): Promise<Prosody> {
  refuseInUnitRun('startProsody');
  const dir = await mkdtemp(join(tmpdir(), 'grd-prosody-'));
  await mkdir(join(dir, 'data'), { mode: 0o700 });
  const certs = await makeCertificates(dir);
  const port = await freePort();
  const configFile = join(dir, 'prosody.cfg.lua');
  await writeFile(configFile, config(dir, port, certs, options.smacks ?? false));
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn('prosody', ['--config', configFile, '-F'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await listening(port, proc);
    } catch (err) {
      proc.kill('SIGKILL');
      throw new Error(`${(err as Error).message}: ${stderr}\n${await readFile(join(dir, 'prosody.log'), 'utf8').catch(() => '')}`);
    }
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    domain: DOMAIN,
    port,
    service: `xmpp://127.0.0.1:${port}`,
    caFile: certs.ca,
    dir,
    async register(user, password) {
      await execFileAsync('prosodyctl', ['--config', configFile, 'register', user, DOMAIN, password]);
      return `${user}@${DOMAIN}`;
    },
    log: () => readFile(join(dir, 'prosody.log'), 'utf8'),
    roster(user) {
      // Prosody's internal storage is a Lua table: `["work@localhost"] = { ["groups"] = {}; ["subscription"] = "both"; };`
      let text = '';
      try {
        text = readFileSync(join(dir, 'data', DOMAIN, 'roster', `${user}.dat`), 'utf8');
      } catch {
        return {};
      }
      const roster: Record<string, string> = {};
      const contacts = [...text.matchAll(/\["([^"\s]+@[^"\s]+)"\]\s*=\s*\{/g)];
      contacts.forEach((m, i) => {
        const body = text.slice(m.index!, contacts[i + 1]?.index ?? text.length);
        const subscription = /subscription"?\]?\s*=\s*"(\w+)"/.exec(body)?.[1];
        if (subscription) roster[m[1]!] = subscription;
      });
      return roster;
    },
    stop,
    start,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
