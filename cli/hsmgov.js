#!/usr/bin/env node
// The `hsmgov` command (package.json `bin`): runs the TypeScript CLI through ts-node.
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS entry: it must load ts-node before any TypeScript */
require('ts-node').register({ transpileOnly: true, project: require('node:path').join(__dirname, '..', 'tsconfig.json') });
require('./main').main(process.argv.slice(2));
