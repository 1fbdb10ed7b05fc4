#!/usr/bin/env node
// The `vigil-agent` command (plant side). Run `npm run build` first: this loads the compiled CLI.
import '../dist/cli/main.js';
