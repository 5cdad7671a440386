#!/usr/bin/env node
import { runNodesCommand } from './nodes-command.js';

process.exitCode = await runNodesCommand(process.argv.slice(2));
