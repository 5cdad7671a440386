import { createElement, useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { ErrorCode, NearbyError } from '@nearby/protocol';
import { NearbyClient } from '../client.js';
import type { NearbyClientOptions } from '../options.js';
import { NearbyContext } from './context.js';

/** Props of {@link NearbyProvider}: exactly one of `options` and `client`. */
export interface NearbyProviderProps {
  /**
   * Options of a client the provider creates (once, on its first render) and owns: it connects
   * it on mount and closes it when the provider unmounts. Read once: later changes are ignored
   * (give the provider a `key` to start over with new options).
   */
  options?: NearbyClientOptions;
  /** A client you created and own: the provider connects it on mount but never closes it. */
  client?: NearbyClient;
  /**
   * Whether the provider calls `connect()` (on mount, and whenever this turns true or the
   * `client` changes). Default `true`. Turning it false does not disconnect: call `close()`.
   */
  connect?: boolean;
  children?: ReactNode;
}

/**
 * Makes a {@link NearbyClient} available to the hooks below it.
 *
 * ```tsx
 * <NearbyProvider options={{ url: 'wss://api.example.com/nearby', getToken }}>
 *   <FriendsList />
 * </NearbyProvider>
 * ```
 *
 * With `options`, the provider owns the client: it closes it (code 1000, which tells friends
 * the user went offline) when it unmounts for good. The close waits for a microtask, so the
 * unmount and remount that React's StrictMode performs in development keep the same connection
 * and never sign the user off. With `client`, you own the client and close it yourself.
 *
 * @throws NearbyError `invalid_argument` unless exactly one of `options` and `client` is given,
 * when `client` is not a NearbyClient, when switching between the two after mount, or for
 * invalid options (from the client's constructor).
 */
export function NearbyProvider(props: NearbyProviderProps): ReactElement {
  const { options, client, connect = true, children } = props;
  if ((options === undefined) === (client === undefined)) {
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      `NearbyProvider needs exactly one of \`options\` (it creates and owns the client) or \`client\` (you own it); got ${
        options === undefined ? 'neither' : 'both'
      }`,
    );
  }
  if (client !== undefined && !isClient(client)) {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, 'NearbyProvider: `client` must be a NearbyClient');
  }
  if (typeof connect !== 'boolean') {
    throw new NearbyError(ErrorCode.INVALID_ARGUMENT, `NearbyProvider: \`connect\` must be a boolean (got ${String(connect)})`);
  }
  // Created during the first render: the constructor does no I/O, so the extra render of
  // StrictMode (whose result React throws away) costs an object, never a socket.
  const [owned] = useState(() => (options === undefined ? null : new NearbyClient(options)));
  if ((owned === null) !== (options === undefined)) {
    throw new NearbyError(
      ErrorCode.INVALID_ARGUMENT,
      'NearbyProvider cannot switch between `options` and `client` after mounting; give it a new `key` to start over',
    );
  }
  const target = client ?? (owned as NearbyClient);

  const mounted = useRef(false);
  useEffect(() => {
    if (owned === null) return undefined;
    mounted.current = true;
    return () => {
      mounted.current = false;
      // StrictMode's simulated unmount is followed by a remount in the same task: only close if
      // the provider is still unmounted once that task's synchronous work is done.
      queueMicrotask(() => {
        if (!mounted.current) owned.close();
      });
    };
  }, [owned]);

  useEffect(() => {
    if (connect) target.connect();
  }, [target, connect]);

  useIgnoredOptionsWarning(owned === null ? undefined : options);

  return createElement(NearbyContext.Provider, { value: target }, children);
}

/** Structural check, so a client from another copy of the package is accepted too. */
function isClient(value: unknown): value is NearbyClient {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof NearbyClient, unknown>>;
  return (
    typeof candidate.connect === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.subscribe === 'function' &&
    typeof candidate.getSnapshot === 'function'
  );
}

/**
 * Warns once when a plain option (a string, number or boolean such as `url`, `token` or
 * `radiusKm`) differs from the one the client was created with: the change has no effect.
 * Functions and objects are not compared, since inline ones are new on every render.
 */
function useIgnoredOptionsWarning(options: NearbyClientOptions | undefined): void {
  const initial = useRef(options);
  const warned = useRef(false);
  useEffect(() => {
    const first = initial.current;
    if (options === undefined || first === undefined || warned.current) return;
    const changed = changedPlainOption(first, options);
    if (changed === undefined) return;
    warned.current = true;
    console.warn(
      `NearbyProvider: \`options.${changed}\` changed after the client was created and is ignored; ` +
        'call its methods (setRadius, setSharing, setDiscoverable, setSeeingStrangers), use getToken for tokens that change, ' +
        'or give the provider a `key` (e.g. key={userId}) to create a new client',
    );
  });
}

function changedPlainOption(before: NearbyClientOptions, after: NearbyClientOptions): string | undefined {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof NearbyClientOptions>;
  for (const key of keys) {
    const a = before[key];
    const b = after[key];
    if (isPlain(a) && isPlain(b) && !Object.is(a, b)) return key;
  }
  return undefined;
}

function isPlain(value: unknown): boolean {
  return value === undefined || value === null || (typeof value !== 'object' && typeof value !== 'function');
}
