import { PodnetError, errorMessage, isPermissionDenied, permissionError } from '../errors';

const USAGE = `usage: podnet <command>

commands:
  serve      run the Docker network + IPAM plugin (what npm start runs)
  cleanup    remove all podnet host state: veths, bridge, firewall chains, stored state
  pod        pods: containers sharing one network namespace (podnet pod help)
  version    print the version
`;

// Each command loads only its own modules: the plugin must not carry the Docker client (and its
// gRPC and SSH stacks) that only `podnet pod` needs; it cost the serving process ~20 MB of RSS.
const COMMANDS: Readonly<Record<string, (args: readonly string[]) => Promise<void>>> = {
  serve: async () => (await import('../main')).serve(),
  cleanup: async () => (await import('./cleanup')).cleanup(),
  pod: async (args) => (await import('./pod')).pod(args),
  version: async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    console.log((require('../../../package.json') as { version: string }).version);
  },
};

/** "mkdir /run/docker/plugins" from a Node errno error, else its message. */
function deniedWhat(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.syscall && e.path ? `${e.syscall} ${e.path}` : errorMessage(err);
}

export async function main(argv: readonly string[]): Promise<void> {
  const [name, ...args] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    process.stderr.write(name === undefined || name === 'help' || name === '--help' ? USAGE : `podnet: unknown command "${name}"\n\n${USAGE}`);
    process.exitCode = name === undefined || name === 'help' || name === '--help' ? 0 : 2;
    return;
  }
  try {
    await command(args);
  } catch (caught) {
    // A denied file operation that no module translated still means "run as root", not a bug.
    const err = !(caught instanceof PodnetError) && isPermissionDenied(caught) ? permissionError(deniedWhat(caught), caught) : caught;
    const prefix = err instanceof PodnetError ? '' : 'unexpected error: ';
    process.stderr.write(`podnet: ${prefix}${errorMessage(err)}\n`);
    process.exit(1);
  }
}
