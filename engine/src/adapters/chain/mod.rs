//! Chain adapters: the escrow contract on Ethereum (JSON-RPC, the escrow capability) and
//! the simulated escrow embedded for `cargo run` and tests. What both share lives here:
//! the quote encoding the contract verifies, and the quote key that signs it.

pub mod ethereum;
pub mod simulated;

use crate::config::ChainSettings;
use crate::domain::order::EscrowQuote;
use crate::ports::{Chain, ChainError};
use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolValue;
use std::str::FromStr;
use std::sync::Arc;

/// The digest of an escrow quote, exactly as `MEscrow.pay` recomputes it:
///
/// ```solidity
/// bytes32 digest = keccak256(abi.encode(
///     block.chainid,   // uint256
///     address(this),   // address: the escrow contract
///     orderId,         // bytes32: the order uuid's 16 bytes right-aligned
///     msg.sender,      // address: the payer
///     payee,           // address
///     msg.value,       // uint256: amount, the order total in wei
///     fee,             // uint256: what the platform keeps, in wei
///     deadline         // uint256: unix seconds
/// ));
/// ```
///
/// i.e. eight 32-byte words, each left-padded (addresses in the low 20 bytes), 256 bytes
/// in all, hashed with keccak256. The quote key then signs this digest as an EIP-191
/// personal message ([`sign_quote_digest`]): the contract checks
/// `ECDSA.recover(MessageHashUtils.toEthSignedMessageHash(digest), signature)` against
/// the platform's quote signer.
pub fn quote_digest(q: &EscrowQuote) -> B256 {
    let encoded = (
        U256::from(q.chain_id),
        q.contract,
        q.order_id,
        q.payer,
        q.payee,
        U256::from(q.amount.0),
        U256::from(q.fee.0),
        U256::from(q.deadline),
    )
        .abi_encode_params();
    keccak256(encoded)
}

/// The platform's quote key.
pub struct QuoteSigner {
    signer: PrivateKeySigner,
}

impl QuoteSigner {
    /// From a hex private key (`0x` optional), as `chain.quote_signer_key` holds it.
    pub fn from_hex(key: &str) -> Result<Self, ChainError> {
        let bytes = B256::from_str(key.trim()).map_err(|_| {
            ChainError::Config("chain.quote_signer_key must be a 32-byte hex private key".into())
        })?;
        let signer = PrivateKeySigner::from_bytes(&bytes).map_err(|_| {
            ChainError::Config("chain.quote_signer_key is not a valid secp256k1 private key".into())
        })?;
        Ok(Self { signer })
    }

    /// The address the escrow contract trusts as quote signer.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs a quote: `0x` + r (32 bytes) + s (32 bytes) + v (27 or 28), the 65-byte
    /// form `ECDSA.recover` takes.
    pub fn sign(&self, quote: &EscrowQuote) -> Result<String, ChainError> {
        let digest = quote_digest(quote);
        let signature = self
            .signer
            .sign_message_sync(digest.as_slice())
            .map_err(|e| ChainError::Other(format!("quote signing failed: {e}")))?;
        Ok(format!(
            "0x{}",
            alloy_primitives::hex::encode(signature.as_bytes())
        ))
    }
}

/// Who signed `signature` over `quote` (what the contract's check computes).
pub fn recover_quote_signer(quote: &EscrowQuote, signature: &str) -> Result<Address, ChainError> {
    let sig = Signature::from_str(signature)
        .map_err(|e| ChainError::Other(format!("signature does not parse: {e}")))?;
    sig.recover_address_from_msg(quote_digest(quote).as_slice())
        .map_err(|e| ChainError::Other(format!("signature does not recover: {e}")))
}

/// Parses an address setting (any case; a mixed-case one must be a valid checksum).
pub(crate) fn address_setting(key: &str, raw: Option<&str>) -> Result<Address, ChainError> {
    let raw = raw.ok_or_else(|| ChainError::Config(format!("{key} must be set")))?;
    crate::domain::wallet::parse_address(key, raw).map_err(ChainError::Config)
}

/// The adapter the settings select: `chain.rpc_url` set selects Ethereum (the MEscrow
/// contract at `chain.contract_address`, operator calls signed with `chain.operator_key`),
/// unset the simulated escrow.
pub fn from_settings(settings: &ChainSettings) -> Result<Arc<dyn Chain>, ChainError> {
    if settings.rpc_url.is_some() {
        return Ok(Arc::new(ethereum::EthereumChain::from_settings(settings)?));
    }
    Ok(Arc::new(simulated::SimulatedChain::from_settings(
        settings,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Wei;
    use crate::domain::order::escrow_order_id;
    use uuid::Uuid;

    /// Hardhat / Anvil test account #0: a PUBLIC test key, never for real funds.
    const TEST_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn quote() -> EscrowQuote {
        EscrowQuote {
            chain_id: 31337,
            contract: Address::from_str("0x5FbDB2315678afecb367f032d93F642f64180aa3").unwrap(),
            order_id: escrow_order_id(
                Uuid::parse_str("d3a10ad0-548a-484e-9584-6075fceca6be").unwrap(),
            ),
            payer: Address::from_str("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").unwrap(),
            payee: Address::from_str("0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421").unwrap(),
            amount: Wei(120_750_000_000_000_000),
            fee: Wei(5_750_000_000_000_000),
            deadline: 1_764_288_000,
        }
    }

    #[test]
    fn the_signer_is_recovered_from_the_signature() {
        let signer = QuoteSigner::from_hex(TEST_KEY).unwrap();
        assert_eq!(
            signer.address().to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let q = quote();
        let sig = signer.sign(&q).unwrap();
        assert_eq!(sig.len(), 2 + 130, "65 bytes of hex");
        assert!(
            sig.ends_with("1b") || sig.ends_with("1c"),
            "v is 27 or 28: {sig}"
        );
        assert_eq!(recover_quote_signer(&q, &sig).unwrap(), signer.address());
        // Any field changed: the signature no longer names the platform.
        let mut tampered = q.clone();
        tampered.fee = Wei(1);
        assert_ne!(
            recover_quote_signer(&tampered, &sig).unwrap(),
            signer.address()
        );
        let mut stranger = q;
        stranger.payer = Address::ZERO;
        assert_ne!(
            recover_quote_signer(&stranger, &sig).unwrap(),
            signer.address()
        );
    }

    #[test]
    fn digest_is_keccak_of_eight_abi_words() {
        let q = quote();
        let mut words = Vec::with_capacity(256);
        let word = |bytes: &[u8]| {
            let mut w = [0u8; 32];
            w[32 - bytes.len()..].copy_from_slice(bytes);
            w
        };
        words.extend(word(&q.chain_id.to_be_bytes()));
        words.extend(word(q.contract.as_slice()));
        words.extend(q.order_id.as_slice());
        words.extend(word(q.payer.as_slice()));
        words.extend(word(q.payee.as_slice()));
        words.extend(word(&q.amount.0.to_be_bytes()));
        words.extend(word(&q.fee.0.to_be_bytes()));
        words.extend(word(&q.deadline.to_be_bytes()));
        assert_eq!(words.len(), 256);
        assert_eq!(quote_digest(&q), keccak256(&words));
    }

    #[test]
    fn the_settings_select_the_simulated_chain_with_the_default_test_key() {
        let settings = crate::config::Settings::load_with(None, &[]).unwrap();
        let chain = from_settings(&settings.chain).unwrap();
        assert_eq!(
            (chain.adapter_name(), chain.chain_id()),
            ("simulated", 31337)
        );
        assert_eq!(
            chain.escrow_contract().to_checksum(None),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        let mut bad = settings.chain.clone();
        bad.contract_address = Some("0x5fbDB2315678afecb367f032d93F642f64180aa3".into());
        assert_eq!(
            from_settings(&bad).err().unwrap().to_string(),
            "chain.contract_address has an invalid EIP-55 checksum"
        );
        let mut rpc = settings.chain;
        rpc.rpc_url = Some("http://127.0.0.1:8545".into());
        assert_eq!(
            from_settings(&rpc).err().unwrap().to_string(),
            "chain.operator_key must be set"
        );
        rpc.operator_key = Some("0x1234".into());
        assert_eq!(
            from_settings(&rpc).err().unwrap().to_string(),
            "chain.operator_key must be a 32-byte hex private key"
        );
        rpc.operator_key =
            Some("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d".into());
        let chain = from_settings(&rpc).unwrap();
        assert_eq!(chain.adapter_name(), "ethereum");
    }

    #[test]
    fn bad_keys_are_refused_with_the_setting_named() {
        for bad in [
            "",
            "0x1234",
            "not hex",
            "0x0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let err = QuoteSigner::from_hex(bad).err().expect("refused");
            assert!(err.to_string().contains("chain.quote_signer_key"), "{err}");
        }
    }
}
