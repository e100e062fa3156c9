// MEscrow on an in-process ganache node: every success path and every revert path.
// Quotes are signed here as the engine signs them (EIP-191 over keccak256 of the eight ABI
// words); the engine's own signer is checked against the contract by the Rust tests.
'use strict';
const { describe, it, before, beforeEach } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const ganache = require('ganache');
const { ethers } = require('ethers');
const { compile, ARTIFACT } = require('../build.js');

const CHAIN_ID = 31337;
const ETH = 10n ** 18n;
const GRACE = 30n * 24n * 3600n; // reclaim delay at deployment: 30 days
// Hardhat / Anvil public test keys: known to everyone, never for real funds.
const KEYS = {
  deployer: '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  operator: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  signer: '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  payer: '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  payee: '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  stranger: '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  platform: '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
};

const artifact = JSON.parse(fs.readFileSync(ARTIFACT, 'utf8'));
const fixtures = compile({ 'Fixtures.sol': fs.readFileSync(path.join(__dirname, 'Fixtures.sol'), 'utf8') })[
  'Fixtures.sol'
];

let provider, w, escrow, iface;

async function deploy(abi, bytecode, from, ...args) {
  const c = await new ethers.ContractFactory(abi, bytecode, from).deploy(...args);
  await c.waitForDeployment();
  return c;
}

async function now() {
  return BigInt((await provider.getBlock('latest')).timestamp);
}

async function increaseTime(secs) {
  await provider.send('evm_increaseTime', [Number(secs)]);
  await provider.send('evm_mine', []);
}

async function balance(addr) {
  return provider.getBalance(typeof addr === 'string' ? addr : await addr.getAddress());
}

/** Order id as the engine makes it: the uuid's 16 bytes right-aligned in bytes32. */
function orderId(n) {
  return ethers.zeroPadValue(ethers.toBeHex(0xd3a10ad0548a484e95846075fceca600n + BigInt(n), 16), 32);
}

/** The platform's signature over a quote (`quote_digest` in engine/src/adapters/chain). */
async function sign(q, key = w.signer) {
  const digest = ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(
      ['uint256', 'address', 'bytes32', 'address', 'address', 'uint256', 'uint256', 'uint256'],
      [CHAIN_ID, await escrow.getAddress(), q.orderId, q.payer, q.payee, q.amount, q.fee, q.deadline],
    ),
  );
  return key.signMessage(ethers.getBytes(digest));
}

let next = 0;
async function quote(overrides = {}) {
  const q = {
    orderId: orderId(++next),
    payer: w.payer.address,
    payee: w.payee.address,
    amount: ETH + ETH / 20n,
    fee: ETH / 20n,
    deadline: (await now()) + 3600n,
    ...overrides,
  };
  return { ...q, signature: await sign(q) };
}

function pay(q, from = w.payer, value = q.amount) {
  return escrow.connect(from).pay(q.orderId, q.payee, q.fee, q.deadline, q.signature, { value });
}

/** Awaits a transaction expected to revert with the contract's custom error `name`. */
async function reverts(promise, name) {
  await assert.rejects(promise, (err) => {
    // ganache puts the revert data in error.data.result; ethers passes it on in info.
    const data = err.data ?? err.info?.error?.data?.result ?? err.info?.error?.data;
    const decoded = err.revert ?? (typeof data === 'string' ? iface.parseError(data) : null);
    assert.strictEqual(decoded?.name, name, `expected ${name}, got ${err.shortMessage ?? err.message}`);
    return true;
  });
}

async function events(tx) {
  const receipt = await provider.getTransactionReceipt((await tx).hash);
  assert.strictEqual(receipt.status, 1);
  return receipt.logs.map((l) => iface.parseLog(l)).filter(Boolean);
}

async function record(id) {
  const r = await escrow.escrowOf(id);
  return { state: Number(r.state), payer: r.payer, payee: r.payee, amount: r.amount, fee: r.fee };
}

before(async () => {
  const eip1193 = ganache.provider({
    chain: { chainId: CHAIN_ID, hardfork: 'shanghai' },
    wallet: { accounts: Object.values(KEYS).map((secretKey) => ({ secretKey, balance: 1000n * ETH })) },
    logging: { quiet: true },
  });
  provider = new ethers.BrowserProvider(eip1193, undefined, { pollingInterval: 20, cacheTimeout: -1 });
  w = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [k, new ethers.Wallet(v, provider)]));
  // Sequential sends from one account: let ethers ask the node for each nonce.
  iface = new ethers.Interface([...artifact.abi, ...fixtures.Attacker.abi, ...fixtures.RevertingPayee.abi]);
});

beforeEach(async () => {
  escrow = await deploy(
    artifact.abi,
    artifact.bytecode,
    w.deployer,
    w.operator.address,
    w.signer.address,
    w.platform.address,
    GRACE,
  );
});

describe('pay', () => {
  it('holds the funds and emits OrderPaid with the uuid order id', async () => {
    const q = await quote();
    const before = await balance(escrow);
    const [paid] = await events(pay(q));
    assert.strictEqual(paid.name, 'OrderPaid');
    assert.deepStrictEqual(
      [paid.args.orderId, paid.args.payer, paid.args.payee, paid.args.amount, paid.args.fee],
      [q.orderId, q.payer, q.payee, q.amount, q.fee],
    );
    assert.strictEqual((await balance(escrow)) - before, q.amount);
    assert.deepStrictEqual(await record(q.orderId), {
      state: 1,
      payer: q.payer,
      payee: q.payee,
      amount: q.amount,
      fee: q.fee,
    });
  });

  it('reverts on a wrong amount', async () => {
    const q = await quote();
    await reverts(pay(q, w.payer, q.amount - 1n), 'BadSignature');
    await reverts(pay(q, w.payer, q.amount + 1n), 'BadSignature');
    assert.strictEqual((await record(q.orderId)).state, 0);
  });

  it('reverts when paid twice', async () => {
    const q = await quote();
    await events(pay(q));
    await reverts(pay(q), 'AlreadyPaid');
  });

  it('reverts on an expired quote', async () => {
    const q = await quote({ deadline: (await now()) + 60n });
    await increaseTime(61);
    await reverts(pay(q), 'QuoteExpired');
  });

  it('reverts on a quote for another payer', async () => {
    const q = await quote();
    await reverts(pay(q, w.stranger), 'BadSignature');
  });

  it('reverts on a quote not signed by the platform, a changed fee or payee', async () => {
    const q = await quote();
    await reverts(pay({ ...q, signature: await sign(q, w.stranger) }), 'BadSignature');
    await reverts(pay({ ...q, fee: q.fee + 1n }), 'BadSignature');
    await reverts(pay({ ...q, payee: w.stranger.address }), 'BadSignature');
  });

  it('rejects malleable and malformed signatures', async () => {
    const q = await quote();
    const sig = ethers.Signature.from(q.signature);
    const n = ethers.toBigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141');
    // The same signature's twin (n - s, other v) recovers the same key: refused.
    const twin = ethers.concat([sig.r, ethers.toBeHex(n - BigInt(sig.s), 32), ethers.toBeHex(sig.v === 27 ? 28 : 27, 1)]);
    await reverts(pay({ ...q, signature: twin }), 'BadSignature');
    const v01 = ethers.concat([sig.r, sig.s, ethers.toBeHex(sig.v - 27, 1)]);
    await reverts(pay({ ...q, signature: v01 }), 'BadSignature');
    await reverts(pay({ ...q, signature: ethers.dataSlice(q.signature, 0, 64) }), 'BadSignature');
    await events(pay(q));
  });
});

describe('release', () => {
  it('pays the payee amount - fee and the platform the fee, exactly', async () => {
    const q = await quote();
    await events(pay(q));
    const [payee, platform] = [await balance(w.payee), await balance(w.platform)];
    const [released] = await events(escrow.connect(w.operator).release(q.orderId));
    assert.strictEqual(released.name, 'FundReleased');
    assert.deepStrictEqual(
      [released.args.orderId, released.args.payee, released.args.payeeAmount, released.args.fee],
      [q.orderId, q.payee, q.amount - q.fee, q.fee],
    );
    assert.strictEqual((await balance(w.payee)) - payee, q.amount - q.fee);
    assert.strictEqual((await balance(w.platform)) - platform, q.fee);
    assert.strictEqual(await balance(escrow), 0n);
    assert.strictEqual((await record(q.orderId)).state, 2);
  });

  it('reverts for a stranger, the payer or the payee', async () => {
    const q = await quote();
    await events(pay(q));
    for (const who of [w.stranger, w.payer, w.payee, w.signer, w.deployer]) {
      await reverts(escrow.connect(who).release(q.orderId), 'NotOperator');
      await reverts(escrow.connect(who).refund(q.orderId), 'NotOperator');
    }
  });

  it('reverts when released twice, refunded after release, or never paid', async () => {
    const q = await quote();
    await events(pay(q));
    await events(escrow.connect(w.operator).release(q.orderId));
    await reverts(escrow.connect(w.operator).release(q.orderId), 'NotHeld');
    await reverts(escrow.connect(w.operator).refund(q.orderId), 'NotHeld');
    await reverts(escrow.connect(w.operator).release(orderId(9999)), 'NotHeld');
  });

  it('gives a payee that reverts on receive a pull balance instead of blocking', async () => {
    const bad = await deploy(fixtures.RevertingPayee.abi, fixtures.RevertingPayee.evm.bytecode.object, w.deployer);
    const q = await quote({ payee: await bad.getAddress() });
    await events(pay(q));
    const platform = await balance(w.platform);
    const [released] = await events(escrow.connect(w.operator).release(q.orderId));
    assert.strictEqual(released.name, 'FundReleased');
    assert.strictEqual((await balance(w.platform)) - platform, q.fee, 'the platform is paid anyway');
    assert.strictEqual(await balance(bad), 0n);
    assert.strictEqual(await escrow.pendingWithdrawals(await bad.getAddress()), q.amount - q.fee);
    assert.strictEqual(await balance(escrow), q.amount - q.fee);
    // The payee pulls its balance to an address that accepts it, once.
    const to = ethers.Wallet.createRandom().address;
    await events(bad.withdrawTo(await escrow.getAddress(), to));
    assert.strictEqual(await balance(to), q.amount - q.fee);
    assert.strictEqual(await balance(escrow), 0n);
    await reverts(bad.withdrawTo(await escrow.getAddress(), to), 'NothingToWithdraw');
  });
});

describe('refund', () => {
  it('gives the payer the whole amount back', async () => {
    const q = await quote();
    await events(pay(q));
    const payer = await balance(w.payer);
    const [refunded] = await events(escrow.connect(w.operator).refund(q.orderId));
    assert.strictEqual(refunded.name, 'Refunded');
    assert.deepStrictEqual([refunded.args.orderId, refunded.args.payer, refunded.args.amount], [q.orderId, q.payer, q.amount]);
    assert.strictEqual((await balance(w.payer)) - payer, q.amount);
    assert.strictEqual(await balance(escrow), 0n);
    assert.strictEqual((await record(q.orderId)).state, 3);
    await reverts(escrow.connect(w.operator).refund(q.orderId), 'NotHeld');
    await reverts(escrow.connect(w.operator).release(q.orderId), 'NotHeld');
  });

  it('stops a reentrant payer from being paid twice', async () => {
    const attacker = await deploy(
      fixtures.Attacker.abi,
      fixtures.Attacker.evm.bytecode.object,
      w.deployer,
      await escrow.getAddress(),
    );
    const q = await quote({ payer: await attacker.getAddress() });
    await events(attacker.pay(q.orderId, q.payee, q.fee, q.deadline, q.signature, { value: q.amount }));
    await increaseTime(GRACE + 1n); // so only the guard, not the delay, stops the re-entry
    await events(escrow.connect(w.operator).refund(q.orderId));
    assert.strictEqual(await attacker.reentered(), false);
    assert.strictEqual(iface.parseError(await attacker.reentryError()).name, 'Reentrancy');
    assert.strictEqual(await attacker.received(), q.amount);
    assert.strictEqual(await balance(attacker), q.amount);
    assert.strictEqual(await balance(escrow), 0n);
  });
});

describe('reclaim', () => {
  it('lets the payer take the funds back only after the grace period', async () => {
    const q = await quote();
    await events(pay(q));
    await reverts(escrow.connect(w.payer).reclaim(q.orderId), 'TooEarly');
    await increaseTime(GRACE - 120n);
    await reverts(escrow.connect(w.payer).reclaim(q.orderId), 'TooEarly');
    await increaseTime(121);
    await reverts(escrow.connect(w.stranger).reclaim(q.orderId), 'NotPayer');
    const payer = await balance(w.payer);
    const tx = await escrow.connect(w.payer).reclaim(q.orderId);
    const receipt = await provider.getTransactionReceipt(tx.hash);
    const [refunded] = receipt.logs.map((l) => iface.parseLog(l));
    assert.strictEqual(refunded.name, 'Refunded');
    const gas = receipt.gasUsed * receipt.gasPrice;
    assert.strictEqual((await balance(w.payer)) - payer + gas, q.amount);
    await reverts(escrow.connect(w.operator).release(q.orderId), 'NotHeld');
    await reverts(escrow.connect(w.payer).reclaim(q.orderId), 'NotHeld');
  });
});
