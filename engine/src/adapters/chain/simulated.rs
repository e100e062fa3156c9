//! The simulated escrow: the embedded Chain adapter. It signs quotes with the real quote
//! key and encoding, so a quote made here verifies on the real contract (given the same
//! chain id, contract address and key).

use super::{QuoteSigner, address_setting};
use crate::config::ChainSettings;
use crate::domain::escrow::{ChainEvent, EscrowRecord, Settlement};
use crate::domain::order::EscrowQuote;
use crate::ports::{Chain, ChainError};
use alloy_primitives::{Address, B256};
use async_trait::async_trait;
use secrecy::ExposeSecret;

pub struct SimulatedChain {
    chain_id: u64,
    contract: Address,
    signer: QuoteSigner,
}

impl SimulatedChain {
    pub fn from_settings(settings: &ChainSettings) -> Result<Self, ChainError> {
        let key = settings
            .quote_signer_key
            .as_ref()
            .map(|k| k.expose_secret())
            .ok_or_else(|| ChainError::Config("chain.quote_signer_key must be set".into()))?;
        Ok(Self {
            chain_id: settings.chain_id,
            contract: address_setting(
                "chain.contract_address",
                settings.contract_address.as_deref(),
            )?,
            signer: QuoteSigner::from_hex(key)?,
        })
    }

    /// The address the quotes are signed by.
    pub fn quote_signer(&self) -> Address {
        self.signer.address()
    }
}

#[async_trait]
impl Chain for SimulatedChain {
    fn adapter_name(&self) -> &'static str {
        "simulated"
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn escrow_contract(&self) -> Address {
        self.contract
    }

    async fn sign_quote(&self, quote: &EscrowQuote) -> Result<String, ChainError> {
        self.signer.sign(quote)
    }

    // The escrow ledger (pay, release, refund, blocks of logs) comes with the escrow
    // capability; until then the simulated chain has no blocks and settles nothing.
    async fn release(&self, _order_id: B256) -> Result<Settlement, ChainError> {
        Err(ChainError::Unavailable(
            "the simulated escrow ledger is not built yet".into(),
        ))
    }

    async fn refund(&self, _order_id: B256) -> Result<Settlement, ChainError> {
        Err(ChainError::Unavailable(
            "the simulated escrow ledger is not built yet".into(),
        ))
    }

    async fn escrow_record(&self, _order_id: B256) -> Result<EscrowRecord, ChainError> {
        Ok(EscrowRecord::Unknown)
    }

    async fn latest_block(&self) -> Result<u64, ChainError> {
        Ok(0)
    }

    async fn finalized_block(&self) -> Result<Option<u64>, ChainError> {
        Ok(Some(0))
    }

    async fn block_hash(&self, _number: u64) -> Result<Option<B256>, ChainError> {
        Ok(None)
    }

    async fn escrow_logs(&self, _from: u64, _to: u64) -> Result<Vec<ChainEvent>, ChainError> {
        Ok(Vec::new())
    }
}
