/**
 * Helpers for benchmark child processes (forked with an IPC channel): they must never outlive
 * the parent, whether it exits, crashes, is killed with SIGKILL, or the user presses Ctrl+C.
 */
import { fork, type ChildProcess } from 'node:child_process';

/** Sends a message to the parent; resolves once it was handed to the channel. */
export function toParent(message: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    process.send(message as never, undefined, {}, () => resolve());
  });
}

/**
 * In a child: exit when the parent's IPC channel closes (the parent is gone, however it died)
 * and on SIGINT / SIGTERM / SIGHUP. `cleanup` runs first, synchronously (kill your own children).
 */
export function exitWithParent(cleanup: () => void = () => {}): void {
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    try {
      cleanup();
    } finally {
      process.exit(code);
    }
  };
  process.on('disconnect', () => exit(0));
  process.on('SIGINT', () => exit(130));
  process.on('SIGTERM', () => exit(143));
  process.on('SIGHUP', () => exit(129));
}

/**
 * In the parent: every child forked through here, so that all can be ended at once on exit,
 * a signal or a failure. Killing is by pid of our own children only.
 */
export class Children {
  readonly #live = new Set<ChildProcess>();

  /** Forks a TypeScript module with the parent's loader (tsx) and conditions, plus `extraExecArgv`. */
  fork(modulePath: string, extraExecArgv: string[] = []): ChildProcess {
    const child = fork(modulePath, [], {
      execArgv: [...process.execArgv, ...extraExecArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.#live.add(child);
    child.once('exit', () => this.#live.delete(child));
    // A send to a child that just died fails with EPIPE; that is reported by its 'exit', not here.
    child.on('error', () => {});
    return child;
  }

  get count(): number {
    return this.#live.size;
  }

  /** Waits for `child` to exit, sending SIGTERM after `graceMs` and SIGKILL after twice that. */
  async stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const term = setTimeout(() => child.kill('SIGTERM'), graceMs);
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs * 2);
    await exited;
    clearTimeout(term);
    clearTimeout(kill);
  }

  /** Synchronous: SIGTERM to every live child (usable in an 'exit' handler). */
  killAll(signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const child of this.#live) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }

  /**
   * Ends every live child, escalating to SIGKILL after `graceMs`. `last` (e.g. the process
   * running a backend the others use) is ended only after all the others have exited.
   */
  async stopAll(graceMs = 3_000, last?: ChildProcess): Promise<void> {
    const end = async (children: ChildProcess[]) => {
      const live = children.filter((child) => child.exitCode === null && child.signalCode === null);
      if (live.length === 0) return;
      const exited = Promise.all(live.map((child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))));
      const signal = (name: NodeJS.Signals) => {
        for (const child of live) {
          try {
            child.kill(name);
          } catch {
            // already gone
          }
        }
      };
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    };
    await end([...this.#live].filter((child) => child !== last));
    if (last !== undefined) await end([last]);
  }
}

/** Sends to a child if it is still connected; never throws (a child that died is noticed through its exit). */
export function sendTo(child: ChildProcess, message: unknown): boolean {
  if (!child.connected) return false;
  try {
    child.send(message as never, (error) => void error);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first message from `child` that `accept` returns a value for; rejects if it exits or `ms` pass. */
export function waitForMessage<M, R>(child: ChildProcess, accept: (message: M) => R | undefined, ms: number, what: string): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const onMessage = (message: M) => {
      let result: R | undefined;
      try {
        result = accept(message);
      } catch (error) {
        done();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (result === undefined) return;
      done();
      resolve(result);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      done();
      reject(new Error(`${what}: the child process exited (${signal ?? code})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
