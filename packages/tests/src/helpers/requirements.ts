import { existsSync } from 'node:fs';

/**
 * Checks that an external program a suite needs is installed. In CI (the `CI` environment
 * variable is set) a missing program fails the suite, so nothing is silently skipped there;
 * locally it skips with a loud message naming the Debian package to install.
 */
export function requireProgram(path: string, debianPackage: string): { available: boolean; reason: string } {
  if (existsSync(path)) return { available: true, reason: '' };
  const reason = `${path} is missing: install it with "apt-get install -y ${debianPackage}"`;
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    throw new Error(`CI requires ${reason}`);
  }
  console.warn(`\n!!! SKIPPING: ${reason}\n`);
  return { available: false, reason };
}
