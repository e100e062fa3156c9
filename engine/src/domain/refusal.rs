//! Refusals: every "no" a rule of the engine gives, as one typed enum whose `Display` is
//! the wording API clients see. Both store adapters and the services return these, so the
//! two stores cannot word (or classify) the same refusal differently, and tests compare
//! variants instead of strings.

use super::listing::{ListingAction, ListingStatus};
use super::money::Wei;
use super::offer::{OfferAction, OfferStatus};
use super::order::OrderStatus;
use thiserror::Error;

/// What an offer-side step was trying to do to a listing that is not PUBLISHED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListingStep {
    MakeOffer,
    AcceptOffer,
    UpdateOffer,
    CreateOrder,
}

impl ListingStep {
    fn phrase(self) -> &'static str {
        match self {
            Self::MakeOffer => "make an offer",
            Self::AcceptOffer => "accept an offer",
            Self::UpdateOffer => "update an offer",
            Self::CreateOrder => "create an order",
        }
    }
}

/// An owner's change to a listing that an open order blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerChange {
    Action(ListingAction),
    Delete,
}

impl OwnerChange {
    fn verb(self) -> &'static str {
        match self {
            Self::Action(a) => a.verb(),
            Self::Delete => "delete",
        }
    }
}

/// A refused request. [`Refusal::is_not_found`] decides 404 (the object does not exist,
/// or the caller may not know it does) against 409 (it exists, but the rule says no).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    // --- not found ----------------------------------------------------------------------
    #[error("Account not found")]
    AccountNotFound,
    #[error("Person not found")]
    PersonNotFound,
    #[error("Connection not found")]
    ConnectionNotFound,
    #[error("Contact not found")]
    ContactNotFound,
    #[error("Experience not found")]
    ExperienceNotFound,
    #[error("Reaction not found")]
    ReactionNotFound,
    #[error("Category not found")]
    CategoryNotFound,
    #[error("Listing not found")]
    ListingNotFound,
    #[error("Offer not found")]
    OfferNotFound,
    #[error("Wallet not found")]
    WalletNotFound,
    #[error("Order not found")]
    OrderNotFound,
    #[error("Asset not found")]
    AssetNotFound,
    #[error("Chat not found")]
    ChatNotFound,
    #[error("WsConnection not found")]
    WsConnectionNotFound,

    // --- people -------------------------------------------------------------------------
    #[error("Account already exists")]
    AccountExists,
    #[error("Account already has a person")]
    AccountHasPerson,
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already in use")]
    EmailTaken,
    #[error("Account cannot be deleted while an order holds funds in escrow")]
    AccountHasEscrow,

    // --- social -------------------------------------------------------------------------
    #[error("A connection between these people already exists")]
    ConnectionExists,
    #[error("Connection request is not pending")]
    ConnectionNotPending,
    /// The target rejected this requester less than `social.rerequest_cooldown_days` ago.
    #[error("Connection request was rejected recently; try again after {days} days")]
    RerequestCooldown { days: u32 },

    // --- marketplace --------------------------------------------------------------------
    #[error("Cannot {} a listing that is {status}", .action.verb())]
    ListingTransition {
        status: ListingStatus,
        action: ListingAction,
    },
    #[error("Cannot {} a listing with an open order", .change.verb())]
    ListingHasOpenOrder { change: OwnerChange },
    #[error("Cannot {} on a listing that is {status}", .step.phrase())]
    ListingNotPublished {
        step: ListingStep,
        status: ListingStatus,
    },
    #[error("Cannot {} an offer that is {status}", .action.verb())]
    OfferTransition {
        status: OfferStatus,
        action: OfferAction,
    },
    #[error("You already have an open offer on this listing")]
    OpenOfferExists,
    #[error("Listing already has an accepted offer")]
    AcceptedOfferExists,
    #[error("Cannot cancel an offer with an open order")]
    OfferHasOpenOrder,
    /// `PATCH /offers/{uuid}/accept` with a price that is no longer the offer's.
    #[error("The offer's price changed: it is now {} ETH", .current.to_eth_string())]
    OfferPriceChanged { current: Wei },
    #[error("Cannot create an order for an offer that is {status}")]
    OfferNotAccepted { status: OfferStatus },
    /// An order step its status does not allow (the OrderActor's transitions).
    #[error("Cannot {verb} an order that is {status}")]
    OrderTransition {
        status: OrderStatus,
        verb: &'static str,
    },
    /// Another actor or node moved the order after the caller read it (version check).
    #[error("Order changed meanwhile; try again")]
    OrderChanged,
    #[error("You already registered this wallet address")]
    WalletAddressTaken,

    // --- assets -------------------------------------------------------------------------
    #[error("Asset already exists")]
    AssetExists,

    // --- realtime -----------------------------------------------------------------------
    #[error("uuid is already used by another message")]
    MessageUuidTaken,
    #[error("wsConnId already exists")]
    WsConnectionExists,
}

impl Refusal {
    /// 404 rather than 409.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::AccountNotFound
                | Self::PersonNotFound
                | Self::ConnectionNotFound
                | Self::ContactNotFound
                | Self::ExperienceNotFound
                | Self::ReactionNotFound
                | Self::CategoryNotFound
                | Self::ListingNotFound
                | Self::OfferNotFound
                | Self::WalletNotFound
                | Self::OrderNotFound
                | Self::AssetNotFound
                | Self::ChatNotFound
                | Self::WsConnectionNotFound
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording_names_the_state_and_the_step() {
        assert_eq!(
            Refusal::ListingTransition {
                status: ListingStatus::Cancelled,
                action: ListingAction::Publish
            }
            .to_string(),
            "Cannot publish a listing that is CANCELLED"
        );
        assert_eq!(
            Refusal::ListingNotPublished {
                step: ListingStep::MakeOffer,
                status: ListingStatus::Paused
            }
            .to_string(),
            "Cannot make an offer on a listing that is PAUSED"
        );
        assert_eq!(
            Refusal::ListingHasOpenOrder {
                change: OwnerChange::Delete
            }
            .to_string(),
            "Cannot delete a listing with an open order"
        );
        assert_eq!(
            Refusal::OfferPriceChanged {
                current: Wei(1_500_000_000_000_000_000)
            }
            .to_string(),
            "The offer's price changed: it is now 1.5 ETH"
        );
        assert!(Refusal::ListingNotFound.is_not_found());
        assert!(!Refusal::AcceptedOfferExists.is_not_found());
    }
}
