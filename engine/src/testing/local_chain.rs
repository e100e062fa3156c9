//! A local Ethereum node for tests: ganache from `contracts/node_modules` (installed by
//! `scripts/test`, or `npm ci` in `contracts/`) on a free port, with the public Hardhat
//! test accounts funded, killed when the guard drops. Deploys the committed MEscrow
//! artifact, so tests run against exactly what `contracts/build.js` compiled.

use crate::adapters::chain::ethereum::{JsonRpc, OperatorKey, TxSender};
use crate::config::ChainSettings;
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_sol_types::SolValue;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

/// Hardhat / Anvil test accounts #0..#4: PUBLIC keys, known to everyone, never for real
/// funds. #0 is also the default `chain.quote_signer_key`.
pub const TEST_KEYS: [&str; 5] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];
pub const CHAIN_ID: u64 = 31337;
/// 10 000 ETH per test account.
const BALANCE_WEI: &str = "10000000000000000000000";

/// The `contracts/` directory of this checkout.
pub fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts")
}

pub struct LocalChain {
    child: Child,
    pub url: String,
    pub rpc: JsonRpc,
}

impl Drop for LocalChain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn key(index: usize) -> OperatorKey {
    OperatorKey::from_hex("test key", TEST_KEYS[index]).expect("test keys parse")
}

impl LocalChain {
    /// Starts ganache and waits until it answers.
    pub async fn start() -> Result<Self, String> {
        let bin = contracts_dir().join("node_modules/.bin/ganache");
        if !bin.exists() {
            return Err(format!(
                "{} is missing: run scripts/test (or npm ci in contracts/)",
                bin.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "--server.host",
            "127.0.0.1",
            "--server.port",
            &port.to_string(),
            "--chain.chainId",
            &CHAIN_ID.to_string(),
            "--logging.quiet",
        ]);
        for k in TEST_KEYS {
            cmd.arg("--wallet.accounts")
                .arg(format!("{k},{BALANCE_WEI}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("ganache does not start: {e}"))?;
        let url = format!("http://127.0.0.1:{port}");
        let mut node = Self {
            child,
            rpc: JsonRpc::new(&url).map_err(|e| e.to_string())?,
            url,
        };
        for _ in 0..600 {
            if let Ok(id) = node.rpc.call::<U64>("eth_chainId", json!([])).await {
                if id.to::<u64>() != CHAIN_ID {
                    return Err(format!("ganache answers chain id {id}"));
                }
                return Ok(node);
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!("ganache exited: {status}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("ganache did not answer within a minute".into())
    }

    /// Sends transactions from `key` on this node.
    pub fn sender<'a>(&'a self, key: &'a OperatorKey) -> TxSender<'a> {
        TxSender {
            rpc: &self.rpc,
            key,
            chain_id: CHAIN_ID,
            poll: Duration::from_millis(20),
            receipt_timeout: Duration::from_secs(30),
        }
    }

    /// Deploys the committed MEscrow artifact from test account #0.
    pub async fn deploy_escrow(
        &self,
        operator: Address,
        quote_signer: Address,
        platform: Address,
        reclaim_delay_secs: u64,
    ) -> Result<Address, String> {
        let path = contracts_dir().join("artifacts/MEscrow.json");
        let artifact: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
        .map_err(|e| format!("artifact: {e}"))?;
        let bytecode = artifact["bytecode"]
            .as_str()
            .and_then(|b| Bytes::from_str(b).ok())
            .ok_or("artifact has no bytecode")?;
        let mut input = bytecode.to_vec();
        input.extend(
            (
                operator,
                quote_signer,
                platform,
                U256::from(reclaim_delay_secs),
            )
                .abi_encode_params(),
        );
        let deployer = key(0);
        let tx = self
            .sender(&deployer)
            .send(None, U256::ZERO, input)
            .await
            .map_err(|e| format!("deploy failed: {e:?}"))?;
        let receipt: Value = self
            .rpc
            .call("eth_getTransactionReceipt", json!([tx]))
            .await
            .map_err(|e| e.to_string())?;
        receipt["contractAddress"]
            .as_str()
            .and_then(|a| Address::from_str(a).ok())
            .ok_or_else(|| "no contract address in the receipt".into())
    }

    /// Chain settings for the Ethereum adapter against this node: operator `operator_key`,
    /// quote signer test account #0, fast polls.
    pub fn settings(&self, contract: Address, operator_key: &str) -> ChainSettings {
        ChainSettings {
            rpc_url: Some(self.url.clone()),
            chain_id: CHAIN_ID,
            contract_address: Some(contract.to_checksum(None)),
            operator_key: Some(operator_key.into()),
            quote_signer_key: Some(TEST_KEYS[0].into()),
            confirmations: None,
            start_block: None,
            alchemy_signing_key: None,
            poll_ms: 20,
            log_range: 2000,
            reorg_window: 128,
            receipt_timeout_secs: 30,
        }
    }

    pub async fn balance(&self, who: Address) -> U256 {
        self.rpc
            .call("eth_getBalance", json!([who, "latest"]))
            .await
            .expect("balance")
    }

    pub async fn nonce(&self, who: Address) -> u64 {
        let n: U64 = self
            .rpc
            .call("eth_getTransactionCount", json!([who, "latest"]))
            .await
            .expect("nonce");
        n.to()
    }

    pub async fn block_number(&self) -> u64 {
        let n: U64 = self
            .rpc
            .call("eth_blockNumber", json!([]))
            .await
            .expect("block");
        n.to()
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: usize) {
        for _ in 0..n {
            let _: Value = self
                .rpc
                .call("evm_mine", json!([]))
                .await
                .expect("evm_mine");
        }
    }

    /// The node's time (the latest block's timestamp).
    pub async fn now(&self) -> u64 {
        let block: Value = self
            .rpc
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await
            .expect("latest block");
        let ts = block["timestamp"].as_str().expect("timestamp");
        u64::from_str_radix(ts.trim_start_matches("0x"), 16).expect("hex timestamp")
    }

    pub async fn snapshot(&self) -> String {
        self.rpc
            .call("evm_snapshot", json!([]))
            .await
            .expect("evm_snapshot")
    }

    /// Rolls the chain back to `snapshot`: the blocks after it leave the canonical chain.
    pub async fn revert(&self, snapshot: &str) {
        let ok: bool = self
            .rpc
            .call("evm_revert", json!([snapshot]))
            .await
            .expect("evm_revert");
        assert!(ok, "evm_revert refused");
    }

    pub async fn block_hash(&self, number: u64) -> B256 {
        let block: Value = self
            .rpc
            .call(
                "eth_getBlockByNumber",
                json!([format!("{number:#x}"), false]),
            )
            .await
            .expect("block");
        B256::from_str(block["hash"].as_str().expect("hash")).expect("hash parses")
    }
}
