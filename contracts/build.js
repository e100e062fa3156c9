#!/usr/bin/env node
// Compiles MEscrow.sol offline with the pinned solc-js (package.json) into the committed
// artifact artifacts/MEscrow.json: abi, bytecode, solc version, settings and the source's
// sha256. `node build.js --check` recompiles and fails when the committed artifact differs
// (the engine's tests and scripts/local-chain deploy that artifact, so it must be the source).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const solc = require('solc');

const SOURCE = 'MEscrow.sol';
const ARTIFACT = path.join(__dirname, 'artifacts', 'MEscrow.json');
// ganache 7 runs up to Shanghai; paris keeps the bytecode free of PUSH0 for any node.
const SETTINGS = { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris' };

/** Compiles `sources` ({name: text}) and returns solc's contracts output, or throws. */
function compile(sources) {
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([k, v]) => [k, { content: v }])),
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  return output.contracts;
}

function artifact() {
  const source = fs.readFileSync(path.join(__dirname, SOURCE), 'utf8');
  const c = compile({ [SOURCE]: source })[SOURCE].MEscrow;
  return {
    contractName: 'MEscrow',
    source: SOURCE,
    sourceSha256: crypto.createHash('sha256').update(source).digest('hex'),
    solcVersion: solc.version(),
    settings: SETTINGS,
    abi: c.abi,
    bytecode: '0x' + c.evm.bytecode.object,
    deployedBytecode: '0x' + c.evm.deployedBytecode.object,
  };
}

module.exports = { compile, artifact, ARTIFACT };

if (require.main === module) {
  const built = JSON.stringify(artifact(), null, 2) + '\n';
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(ARTIFACT) ? fs.readFileSync(ARTIFACT, 'utf8') : '';
    if (committed !== built) {
      console.error(`${ARTIFACT} does not match ${SOURCE}: run "node contracts/build.js" and commit it`);
      process.exit(1);
    }
    console.log(`${path.relative(process.cwd(), ARTIFACT)} matches ${SOURCE}`);
  } else {
    fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
    fs.writeFileSync(ARTIFACT, built);
    console.log(`wrote ${path.relative(process.cwd(), ARTIFACT)} (solc ${solc.version()})`);
  }
}
