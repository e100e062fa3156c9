#!/usr/bin/env node
// Deploys the committed artifact (artifacts/MEscrow.json) to a node and prints its address.
//   RPC_URL             the node (default http://127.0.0.1:8545)
//   DEPLOYER_KEY        pays for the deployment (default: Hardhat test account #0)
//   OPERATOR, QUOTE_SIGNER, PLATFORM   addresses (defaults: test accounts #1, #0, #4)
//   RECLAIM_DELAY_SECS  payer reclaim grace period (default 30 days)
// The defaults are PUBLIC test keys and addresses: for a local node only.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { ethers } = require('ethers');

const env = (k, d) => process.env[k] || d;

async function main() {
  const artifact = JSON.parse(fs.readFileSync(path.join(__dirname, 'artifacts', 'MEscrow.json'), 'utf8'));
  const provider = new ethers.JsonRpcProvider(env('RPC_URL', 'http://127.0.0.1:8545'), undefined, {
    pollingInterval: 100,
  });
  const deployer = new ethers.Wallet(
    env('DEPLOYER_KEY', '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'),
    provider,
  );
  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, deployer);
  const contract = await factory.deploy(
    env('OPERATOR', '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'),
    env('QUOTE_SIGNER', '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'),
    env('PLATFORM', '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65'),
    BigInt(env('RECLAIM_DELAY_SECS', String(30 * 24 * 3600))),
  );
  await contract.waitForDeployment();
  const receipt = await contract.deploymentTransaction().wait();
  console.log(JSON.stringify({ address: await contract.getAddress(), block: receipt.blockNumber }));
}

main().catch((e) => {
  console.error(e.shortMessage || e.message);
  process.exit(1);
});
