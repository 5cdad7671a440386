import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { DEFAULT_NODE_PREFIX } from './discovery.js';
import { discoveryNodeProblem } from '../../sharding/discovery-node.js';
import { globalTimers } from '../timers.js';

const USAGE = `Usage: nearby-nodes [--etcd <url>[,<url>…]] [--prefix <prefix>] <command>

Lists, adds and removes the Pub/Sub nodes that Nearby servers read from etcd.

Commands:
  list                  print every node as "<id> <url>"
  add <id> <redis-url>  list a new node (refused if the id is already listed)
  remove <id>           unlist a node (refused if the id is not listed)

Options:
  --etcd     etcd endpoints, comma-separated (default $NEARBY_ETCD or http://127.0.0.1:2379)
  --prefix   key prefix of the node list (default ${DEFAULT_NODE_PREFIX})
  --timeout  milliseconds to wait for etcd (default 5000)
  --help     show this text

Servers rebalance as soon as the list changes. To retire a node: remove it, wait until every
server's transition has ended (transitionMs, 5 s by default), then stop its redis-server.
`;

/** Where the command writes; a process's stdout/stderr by default. */
export interface CommandOutput {
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * The `nearby-nodes` command as a function: runs one command against etcd and resolves to the
 * exit code (0 done, 1 refused or etcd unreachable, 2 bad usage). Messages name the problem.
 */
export async function runNodesCommand(
  argv: readonly string[],
  output: CommandOutput = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        etcd: { type: 'string' },
        prefix: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    output.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    output.out(USAGE);
    return 0;
  }
  const [command, ...rest] = positionals;
  const expected: Record<string, number> = { list: 0, add: 2, remove: 1 };
  if (command === undefined || !(command in expected)) {
    output.err(`${command === undefined ? 'missing command' : `unknown command "${command}"`}\n\n${USAGE}`);
    return 2;
  }
  if (rest.length !== expected[command]) {
    output.err(`"${command}" takes ${expected[command]} argument(s), got ${rest.length}\n\n${USAGE}`);
    return 2;
  }
  const prefix = values.prefix ?? DEFAULT_NODE_PREFIX;
  const timeoutMs = values.timeout === undefined ? 5_000 : Number(values.timeout);
  if (prefix === '' || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    output.err(prefix === '' ? '--prefix must not be empty' : `--timeout must be a positive integer, got "${values.timeout}"`);
    return 2;
  }
  const [id, url] = rest;
  if (command === 'add') {
    const problem = discoveryNodeProblem({ id, url });
    if (problem !== undefined) {
      output.err(problem);
      return 2;
    }
  }

  const hosts = (values.etcd ?? env.NEARBY_ETCD ?? 'http://127.0.0.1:2379').split(',').map((host) => host.trim());
  // One attempt per call with a deadline: an operator wants a prompt answer, not silent retries.
  // gRPC deadlines are wall-clock times, so this is the real clock on purpose, not an injected one.
  const wallClock = globalTimers;
  const client = new Etcd3({ hosts, dialTimeout: timeoutMs, defaultCallOptions: () => ({ deadline: wallClock.now() + timeoutMs }) });
  try {
    if (command === 'list') {
      const nodes = await client.getAll().prefix(prefix).strings();
      for (const key of Object.keys(nodes).sort()) output.out(`${key.slice(prefix.length)} ${nodes[key]}`);
      return 0;
    }
    const key = `${prefix}${id}`;
    if (command === 'add') {
      // Only if absent, in one transaction: two operators cannot overwrite each other's node.
      const result = await client.if(key, 'Create', '==', 0).then(client.put(key).value(url!)).else(client.get(key)).commit();
      if (!result.succeeded) {
        const existing = result.responses[0]?.response_range?.kvs[0]?.value.toString();
        output.err(`node "${id}" is already listed (${existing ?? 'unknown URL'}); remove it first to change its URL`);
        return 1;
      }
      output.out(`added ${id} ${url}`);
      return 0;
    }
    const deleted = await client.delete().key(key).exec();
    if (Number(deleted.deleted) === 0) {
      output.err(`node "${id}" is not listed under ${prefix}`);
      return 1;
    }
    output.out(`removed ${id}`);
    return 0;
  } catch (error) {
    output.err(`etcd at ${hosts.join(', ')} did not answer: ${(error as Error).message}`);
    return 1;
  } finally {
    client.close();
  }
}
