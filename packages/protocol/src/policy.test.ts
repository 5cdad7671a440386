import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, WIRE_ERROR_CODES } from './codes.js';
import { CLOSE_POLICY, ERROR_POLICY, NEVER_RETRY_CODES, TERMINAL_CLOSE_CODES, retryClassOf } from './policy.js';

describe('error and close policy', () => {
  it('names every error code, and its wire codes are exactly the ones error frames may carry', () => {
    expect(Object.keys(ERROR_POLICY).sort()).toEqual(Object.values(ErrorCode).sort());
    const wire = Object.entries(ERROR_POLICY).filter(([, p]) => p.wire).map(([code]) => code);
    expect(wire.sort()).toEqual([...WIRE_ERROR_CODES].sort());
  });

  it('gives every close code that follows an error a place in the close table', () => {
    for (const policy of Object.values(ERROR_POLICY)) {
      if (policy.closeCode !== undefined) expect(Object.keys(CLOSE_POLICY)).toContain(String(policy.closeCode));
    }
    expect(Object.keys(CLOSE_POLICY).map(Number).sort()).toEqual(Object.values(CloseCode).sort());
  });

  it('keeps samples refused for a transient reason and drops those refused for good (protocol.md §10.2)', () => {
    expect(retryClassOf(ErrorCode.HISTORY_UNAVAILABLE)).toBe('resend');
    expect(retryClassOf(ErrorCode.RATE_LIMITED)).toBe('resend');
    expect(retryClassOf(ErrorCode.NOT_INITIALIZED)).toBe('resend');
    expect(retryClassOf(ErrorCode.INTERNAL)).toBe('back_off');
    expect(retryClassOf(ErrorCode.INVALID_LOCATION)).toBe('never');
    expect(retryClassOf(ErrorCode.INVALID_FRAME)).toBe('never');
    // A host's refusal does not change by asking again: the setting stays off.
    expect(retryClassOf(ErrorCode.NOT_ALLOWED)).toBe('never');
    expect(retryClassOf('a_code_from_a_newer_server')).toBe('back_off');
  });

  it('makes exactly 4000, 4001 and 4002 terminal (protocol.md §17)', () => {
    expect([...TERMINAL_CLOSE_CODES].sort()).toEqual([4000, 4001, 4002]);
    const terminal = Object.entries(CLOSE_POLICY).filter(([, p]) => p.terminal).map(([code]) => Number(code));
    expect([...TERMINAL_CLOSE_CODES].sort()).toEqual(terminal.sort());
  });

  it('lists exactly the error codes of retry class never in NEVER_RETRY_CODES', () => {
    const never = Object.entries(ERROR_POLICY).filter(([, p]) => p.retry === 'never').map(([code]) => code);
    expect([...NEVER_RETRY_CODES].sort()).toEqual(never.sort());
  });
});
