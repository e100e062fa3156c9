//! Wallets: a person's connected crypto addresses (the payer pays from one, the payee is
//! paid to one).

use super::Timestamp;
use super::market::{Currency, wire_enum};
use super::money::Wei;
use alloy_primitives::Address;
use std::str::FromStr;
use uuid::Uuid;

wire_enum! {
    /// The blockchain of a wallet (named `chain` on the wire).
    pub enum Blockchain ("chain") {
        Ethereum = "ETHEREUM",
    }
}

wire_enum! {
    pub enum WalletType ("walletType") {
        Metamask = "METAMASK",
    }
}

/// Parses an Ethereum address (`0x` + 40 hex digits). Mixed case is an EIP-55 checksum
/// and must be right (a typo in a payee address loses money); all-lowercase (or
/// all-uppercase) carries no checksum and is accepted as it is.
pub fn parse_address(field: &str, raw: &str) -> Result<Address, String> {
    let s = raw.trim();
    let hex = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("{field} must be an Ethereum address (0x and 40 hex digits)"))?;
    let address = Address::from_str(s)
        .map_err(|_| format!("{field} must be an Ethereum address (0x and 40 hex digits)"))?;
    let mixed_case =
        hex.bytes().any(|b| b.is_ascii_lowercase()) && hex.bytes().any(|b| b.is_ascii_uppercase());
    if mixed_case && address.to_checksum(None) != s {
        return Err(format!("{field} has an invalid EIP-55 checksum"));
    }
    Ok(address)
}

/// A person's wallet address: a well-formed address that can own funds. The zero address
/// (burns) and the precompiles 0x…01–0x…09 (contracts of the protocol itself, which no
/// one holds keys for) would take a payout that no one could ever spend.
pub fn parse_wallet_address(field: &str, raw: &str) -> Result<Address, String> {
    let address = parse_address(field, raw)?;
    if is_reserved(&address) {
        return Err(format!(
            "{field} must not be the zero address or a precompile (0x…01 to 0x…09)"
        ));
    }
    Ok(address)
}

/// The zero address or one of the precompiles 0x…01–0x…09.
pub fn is_reserved(address: &Address) -> bool {
    let bytes = address.as_slice();
    bytes[..19].iter().all(|b| *b == 0) && bytes[19] <= 9
}

/// The checksummed spelling used everywhere the engine writes an address.
pub fn checksummed(address: &Address) -> String {
    address.to_checksum(None)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wallet {
    pub id: i64,
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub chain: Blockchain,
    pub wallet_type: WalletType,
    pub network: String,
    /// The balance the app saw when it connected (informational only).
    pub balance: Option<Wei>,
    pub currency: Currency,
    pub address: Address,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Longest `network` text.
pub const MAX_NETWORK: usize = 100;

/// `POST /wallets`, parsed at the edge.
#[derive(Debug, Clone)]
pub struct AddWallet {
    pub chain: Blockchain,
    pub wallet_type: WalletType,
    pub network: String,
    pub balance: Wei,
    pub currency: Currency,
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewWallet {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub chain: Blockchain,
    pub wallet_type: WalletType,
    pub network: String,
    pub balance: Option<Wei>,
    pub currency: Currency,
    pub address: Address,
    pub at: Timestamp,
}

impl NewWallet {
    pub fn stored(&self, id: i64) -> Wallet {
        Wallet {
            id,
            uuid: self.uuid,
            person_uuid: self.person_uuid,
            chain: self.chain,
            wallet_type: self.wallet_type,
            network: self.network.clone(),
            balance: self.balance,
            currency: self.currency,
            address: self.address,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_precompile_addresses_are_not_wallets() {
        for n in 0..=9u8 {
            let raw = format!("0x{:040x}", n);
            assert!(parse_address("address", &raw).is_ok());
            let err = parse_wallet_address("address", &raw).unwrap_err();
            assert!(err.contains("precompile"), "{raw}: {err}");
        }
        for ok in [
            "0x000000000000000000000000000000000000000a",
            "0x0000000000000000000000000000000000000100",
            "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421",
        ] {
            assert!(parse_wallet_address("address", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn checksums_are_checked_only_when_present() {
        // The Postman collection's address, and the overview's.
        for good in [
            "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421",
            "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        ] {
            let a = parse_address("address", good).unwrap();
            assert_eq!(checksummed(&a), good);
            assert_eq!(
                parse_address("address", &good.to_lowercase()).unwrap(),
                a,
                "lowercase has no checksum"
            );
            let upper = format!("0x{}", good[2..].to_uppercase());
            assert_eq!(
                parse_address("address", &upper).unwrap(),
                a,
                "uppercase has no checksum"
            );
        }
        // One letter's case flipped: a broken checksum.
        assert_eq!(
            parse_address("address", "0x2e2F5B35a9e305bAF5fc5431b55797Ef20721421").unwrap_err(),
            "address has an invalid EIP-55 checksum"
        );
        for bad in [
            "",
            "0x",
            "2E2F5B35a9e305bAF5fc5431b55797Ef20721421",
            "0X2E2F5B35a9e305bAF5fc5431b55797Ef20721421",
            "0x2E2F5B35a9e305bAF5fc5431b55797Ef2072142",
            "0x2E2F5B35a9e305bAF5fc5431b55797Ef207214211",
            "0xZZ2F5B35a9e305bAF5fc5431b55797Ef20721421",
        ] {
            assert_eq!(
                parse_address("address", bad).unwrap_err(),
                "address must be an Ethereum address (0x and 40 hex digits)",
                "{bad:?}"
            );
        }
    }
}
