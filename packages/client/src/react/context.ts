import { createContext, useContext } from 'react';
import type { NearbyClient } from '../client.js';

/** The client of the nearest `NearbyProvider`; `null` outside any. */
export const NearbyContext = createContext<NearbyClient | null>(null);
NearbyContext.displayName = 'NearbyContext';

/**
 * The client of the nearest provider, for the hook named `hook`.
 *
 * @throws Error naming `hook` and `<NearbyProvider>` when called outside a provider.
 */
export function useProvidedClient(hook: string): NearbyClient {
  const client = useContext(NearbyContext);
  if (client === null) {
    throw new Error(
      `${hook}() must be called inside a <NearbyProvider> (from '@nearby/client/react'); wrap this part of the tree in one`,
    );
  }
  return client;
}
