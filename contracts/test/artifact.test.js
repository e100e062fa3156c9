// The committed artifact is what the source compiles to (the engine deploys the artifact).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { artifact, ARTIFACT } = require('../build.js');

test('the committed artifact matches MEscrow.sol compiled with the pinned solc', () => {
  const committed = JSON.parse(fs.readFileSync(ARTIFACT, 'utf8'));
  const built = artifact();
  assert.strictEqual(committed.sourceSha256, built.sourceSha256, 'source changed: run node contracts/build.js');
  assert.strictEqual(committed.solcVersion, built.solcVersion);
  assert.deepStrictEqual(committed.abi, built.abi);
  assert.strictEqual(committed.bytecode, built.bytecode);
  assert.strictEqual(committed.deployedBytecode, built.deployedBytecode);
});
