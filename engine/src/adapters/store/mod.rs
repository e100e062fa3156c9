//! Store adapters: PostgreSQL (production) and in-memory (embedded default).

pub mod memory;
pub mod postgres;

/// Messages both adapters use for the same constraint, so clients see one wording.
pub mod msg {
    pub const ACCOUNT_EXISTS: &str = "Account already exists";
    pub const ACCOUNT_NOT_FOUND: &str = "Account not found";
    pub const ACCOUNT_HAS_PERSON: &str = "Account already has a person";
    pub const USERNAME_TAKEN: &str = "username is already taken";
    pub const EMAIL_TAKEN: &str = "email is already in use";
    pub const PERSON_NOT_FOUND: &str = "Person not found";
    // assets
    pub const ASSET_NOT_FOUND: &str = "Asset not found";
    pub const ASSET_EXISTS: &str = "Asset already exists";
    // social
    pub const CONNECTION_EXISTS: &str = "A connection between these people already exists";
    pub const CONNECTION_NOT_FOUND: &str = "Connection not found";
    pub const CONNECTION_NOT_PENDING: &str = "Connection request is not pending";
    pub const CONTACT_NOT_FOUND: &str = "Contact not found";
    pub const EXPERIENCE_NOT_FOUND: &str = "Experience not found";
    pub const REACTION_NOT_FOUND: &str = "Reaction not found";
    // account deletion blockers (each adapter's account_deletion.rs)
    pub const ACCOUNT_HAS_ESCROW: &str =
        "Account cannot be deleted while an order holds funds in escrow";
    // marketplace
    pub const CATEGORY_NOT_FOUND: &str = "Category not found";
    pub const LISTING_NOT_FOUND: &str = "Listing not found";
    pub const OFFER_NOT_FOUND: &str = "Offer not found";
    pub const WALLET_NOT_FOUND: &str = "Wallet not found";
    pub const OPEN_OFFER_EXISTS: &str = "You already have an open offer on this listing";
    pub const ACCEPTED_OFFER_EXISTS: &str = "Listing already has an accepted offer";
    pub const WALLET_ADDRESS_TAKEN: &str = "Wallet address is already registered";
    pub const OFFER_HAS_OPEN_ORDER: &str = "Cannot cancel an offer with an open order";

    use crate::domain::listing::ListingStatus;
    use crate::domain::offer::OfferStatus;

    /// An offer-side action on a listing that is not PUBLISHED: "Cannot make an offer on
    /// a listing that is PAUSED".
    pub fn listing_not_published(what: &str, status: ListingStatus) -> String {
        format!("Cannot {what} on a listing that is {status}")
    }

    /// An order for an offer that is not ACCEPTED.
    pub fn offer_not_accepted(status: OfferStatus) -> String {
        format!("Cannot create an order for an offer that is {status}")
    }
    // realtime
    pub const CHAT_NOT_FOUND: &str = "Chat not found";
    pub const MESSAGE_UUID_TAKEN: &str = "uuid is already used by another message";
    pub const WS_CONN_EXISTS: &str = "wsConnId already exists";
    pub const WS_CONN_NOT_FOUND: &str = "WsConnection not found";
}

use crate::domain::people::Person;
use crate::domain::{Page, PageRequest};

/// The page of a people search, for both adapters. The exact username match (first row
/// of the first page) is not a keyset position, so the cursor is the last other row's id;
/// a first page that holds only the exact match continues from the top.
pub(crate) fn search_page(
    rows: Vec<Person>,
    page: &PageRequest,
    exact_id: Option<i64>,
) -> Page<Person> {
    let mut result = Page::from_rows(rows, page, |p| p.id);
    if result.after.is_some() && result.items.last().map(|p| p.id) == exact_id {
        result.after = Some(i64::MAX);
    }
    result
}
