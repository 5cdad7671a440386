import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { PongFrame, ReconnectFrame } from '../frames.js';
import { PongFrameSchema, ReconnectFrameSchema, type Equivalent } from './schemas.js';

// `pnpm typecheck` compiles `SchemasMatchInterfaces` in schemas.ts; these lines show that the
// check it is built on refuses each kind of drift (a `@ts-expect-error` that is not needed fails).
type Holds<T extends true> = T;
type Drift = [
  Holds<Equivalent<z.infer<typeof PongFrameSchema>, PongFrame>>,
  // @ts-expect-error an optional field made required
  Holds<Equivalent<z.infer<typeof PongFrameSchema>, PongFrame & { id: number }>>,
  // @ts-expect-error a field the schema does not have
  Holds<Equivalent<z.infer<typeof PongFrameSchema>, PongFrame & { extra: string }>>,
  // @ts-expect-error a literal widened to string
  Holds<Equivalent<z.infer<typeof PongFrameSchema>, Omit<PongFrame, 'type'> & { type: string }>>,
  // @ts-expect-error an enumeration that may grow typed as its known values only
  Holds<Equivalent<z.infer<typeof ReconnectFrameSchema>, Omit<ReconnectFrame, 'reason'> & { reason: 'draining' }>>,
];

describe('schemas', () => {
  it('parse what their interfaces describe', () => {
    const frame: PongFrame = { type: 'pong', id: 1, serverTime: 2 };
    const drift: Drift | undefined = undefined;
    expect(drift).toBeUndefined();
    expect(PongFrameSchema.parse(frame)).toEqual(frame);
  });
});
