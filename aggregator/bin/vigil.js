#!/usr/bin/env node
// The `vigil` command (aggregator side). Run `npm run build` first: this loads the compiled CLI.
import '../dist/cli/main.js';
