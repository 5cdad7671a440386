import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Sends `signal` to a running child and resolves once it has exited. */
async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/**
 * A server program a test starts, stops and starts again (to test outages): the running child,
 * if any, and the end of what its last run wrote to stderr, for error messages. Its stderr is
 * always drained, so a chatty server never blocks on a full pipe.
 */
export class RestartableProcess {
  readonly name: string;
  #child: ChildProcess | undefined;
  #stderr = '';

  constructor(name: string) {
    this.name = name;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** The last 4000 characters the current (or last) run wrote to stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Starts `command`; refuses while a previous run is still alive. */
  spawn(command: string, args: readonly string[], options: Omit<SpawnOptions, 'stdio'> = {}): void {
    if (this.#child !== undefined) throw new Error(`${this.name} is already running`);
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    this.#stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000);
    });
    this.#child = child;
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
    });
  }

  /** Sends `signal` without waiting for an exit (SIGSTOP, SIGCONT); nothing to do when not running. */
  send(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  /** Sends `signal` and waits for the exit; nothing to do when not running. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    await signalAndWait(child, signal);
    this.#child = undefined;
  }
}
