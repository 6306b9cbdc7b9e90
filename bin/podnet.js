#!/usr/bin/env node
'use strict';
// Entry point of the podnet CLI: the compiled TypeScript lives in dist/ (npm run build).
require('../dist/src/cli/podnet.js').main(process.argv.slice(2));
