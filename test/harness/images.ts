/**
 * The test image podnet-test/busybox:latest, built without any registry:
 * busybox-static with its applets as symlinks, plus socat and iperf3 with their shared libraries
 * and the dynamic loader. The tarball is cached under /tmp, keyed by a hash of its contents.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from './exec';

export const TEST_IMAGE = 'podnet-test/busybox:latest';
export const TEST_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Bump when the image layout below changes (part of the cache key). */
const LAYOUT_VERSION = '1';
const BUSYBOX = '/bin/busybox';
const EXTRA_PROGRAMS = ['socat', 'iperf3'];

/** Anything with a docker CLI: a TestHost. */
export interface DockerTarget {
  readonly name: string;
  docker(args: readonly string[], opts?: { inputFile?: string; timeoutMs?: number; allowFail?: boolean }): Promise<{ stdout: string; stderr: string; code: number }>;
}

async function which(prog: string): Promise<string> {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = path.join(dir, prog);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${prog} is not installed (Debian package ${prog})`);
}

/** Shared libraries and loader of a dynamic executable, as absolute paths (from ldd). */
async function sharedLibs(file: string): Promise<string[]> {
  const r = await run(['ldd', file], { allowFail: true });
  if (r.code !== 0) return []; // "not a dynamic executable"
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    // "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m && m[1]) libs.push(m[1]);
    else if (/not found/.test(line)) throw new Error(`ldd ${file}: ${line.trim()}`);
  }
  return libs;
}

interface Plan {
  /** path in the image -> source file on this machine */
  files: Map<string, string>;
  /** path in the image -> symlink target */
  links: Map<string, string>;
  key: string;
}

async function plan(): Promise<Plan> {
  if (!fs.existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing (Debian package busybox-static)`);
  const files = new Map<string, string>();
  const links = new Map<string, string>();
  files.set('/bin/busybox', BUSYBOX);
  const list = await run([BUSYBOX, '--list-full']);
  for (const rel of list.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
    // Skip the `busybox` applet itself: it would turn /bin/busybox into a link to itself.
    if (path.basename(rel) === 'busybox') continue;
    links.set('/' + rel.replace(/^\/+/, ''), '/bin/busybox');
  }
  for (const prog of EXTRA_PROGRAMS) {
    const src = await which(prog);
    const dst = `/usr/bin/${prog}`;
    files.set(dst, src);
    links.delete(dst);
    for (const lib of await sharedLibs(src)) files.set(lib, lib);
  }
  const h = crypto.createHash('sha256');
  h.update(`layout ${LAYOUT_VERSION}\n`);
  for (const [dst, src] of [...files].sort()) {
    h.update(`file ${dst}\n`);
    h.update(fs.readFileSync(src));
  }
  for (const [dst, target] of [...links].sort()) h.update(`link ${dst} ${target}\n`);
  return { files, links, key: h.digest('hex').slice(0, 16) };
}

async function buildTarball(p: Plan, tarball: string): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'podnet-test-rootfs-'));
  try {
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'usr/local/sbin', 'etc', 'root', 'var', 'run', 'proc', 'sys', 'dev', 'home']) {
      fs.mkdirSync(path.join(root, d), { recursive: true });
    }
    fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    for (const [dst, src] of p.files) {
      const to = path.join(root, dst);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(src, to); // follows symlinks: the real content lands under the ldd name
      fs.chmodSync(to, 0o755);
    }
    for (const [dst, target] of p.links) {
      const to = path.join(root, dst);
      if (p.files.has(dst)) continue;
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.symlinkSync(target, to);
    }
    const tmp = `${tarball}.${process.pid}.tmp`;
    await run(['tar', '-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tmp, '.']);
    fs.renameSync(tmp, tarball); // atomic: parallel test processes may build the same key
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

let tarballPromise: Promise<string> | undefined;

/** Build (once per process; cached under /tmp by content hash) the image tarball; returns its path. */
export function testImageTarball(): Promise<string> {
  tarballPromise ??= (async () => {
    const p = await plan();
    const tarball = path.join(os.tmpdir(), `podnet-test-image-${p.key}.tar`);
    if (!fs.existsSync(tarball)) await buildTarball(p, tarball);
    return tarball;
  })();
  tarballPromise.catch(() => {
    tarballPromise = undefined;
  });
  return tarballPromise;
}

/** Make sure `podnet-test/busybox:latest` exists in the host's dockerd (docker import). */
export async function ensureTestImage(host: DockerTarget): Promise<string> {
  const tarball = await testImageTarball();
  const have = await host.docker(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE], { allowFail: true });
  if (have.code === 0) return TEST_IMAGE;
  await host.docker(['import', '--change', `ENV PATH=${TEST_IMAGE_PATH}`, '--change', 'CMD ["/bin/sh"]', '-', TEST_IMAGE], {
    inputFile: tarball,
    timeoutMs: 120_000,
  });
  return TEST_IMAGE;
}
