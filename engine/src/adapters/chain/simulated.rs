//! The simulated escrow: the embedded Chain adapter. It signs quotes with the real quote
//! key and encoding, so a quote made here verifies on the real contract (given the same
//! chain id, contract address and key).

use super::{QuoteSigner, address_setting};
use crate::config::ChainSettings;
use crate::domain::order::EscrowQuote;
use crate::ports::{Chain, ChainError};
use alloy_primitives::Address;
use async_trait::async_trait;

pub struct SimulatedChain {
    chain_id: u64,
    contract: Address,
    signer: QuoteSigner,
}

impl SimulatedChain {
    pub fn from_settings(settings: &ChainSettings) -> Result<Self, ChainError> {
        let key = settings
            .quote_signer_key
            .as_deref()
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
}
