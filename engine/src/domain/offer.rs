//! Offers: a person's price for a published listing, and its lifecycle
//! (reference/diagrams/offer-lifecycle.png).

use super::Timestamp;
use super::listing::ListingStatus;
use super::market::{ListingType, Parties, wire_enum};
use super::money::Wei;
use super::refusal::{ListingStep, Refusal};
use uuid::Uuid;

wire_enum! {
    pub enum OfferStatus ("status") {
        Offered = "OFFERED",
        Accepted = "ACCEPTED",
        Paid = "PAID",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
    }
}

/// Everything that can happen to an offer. The first three are REST calls (offeror or
/// poster); the last three come from its order (the escrow lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferAction {
    /// PATCH of price or comment by the offeror: not a change of status.
    Update,
    Accept,
    /// The offeror withdraws, or the poster declines.
    Cancel,
    /// The escrow received the order's payment.
    Pay,
    /// The paid order was cancelled and the payer refunded.
    Refund,
    /// The order completed: funds released to the payee.
    Complete,
    /// A reorg took the order's payment out of the chain: accepted again, payable again.
    Unpay,
}

impl OfferAction {
    pub const ALL: [OfferAction; 7] = [
        Self::Update,
        Self::Accept,
        Self::Cancel,
        Self::Pay,
        Self::Refund,
        Self::Complete,
        Self::Unpay,
    ];

    pub fn verb(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Accept => "accept",
            Self::Cancel => "cancel",
            Self::Pay => "pay",
            Self::Refund => "refund",
            Self::Complete => "complete",
            Self::Unpay => "unpay",
        }
    }
}

impl OfferStatus {
    /// The lifecycle, in one place: the status after `action`, or why not.
    pub fn transition(self, action: OfferAction) -> Result<OfferStatus, Refusal> {
        use OfferAction as A;
        use OfferStatus as S;
        let next = match (self, action) {
            (S::Offered, A::Update) => S::Offered,
            (S::Offered, A::Accept) => S::Accepted,
            (S::Offered | S::Accepted, A::Cancel) => S::Cancelled,
            (S::Accepted, A::Pay) => S::Paid,
            (S::Paid, A::Refund) => S::Cancelled,
            (S::Paid, A::Complete) => S::Completed,
            (S::Paid, A::Unpay) => S::Accepted,
            _ => {
                return Err(Refusal::OfferTransition {
                    status: self,
                    action,
                });
            }
        };
        Ok(next)
    }

    /// Still in play: counts against "one open offer per person per listing", and what
    /// cancelling a listing cancels.
    pub const OPEN: [OfferStatus; 2] = [OfferStatus::Offered, OfferStatus::Accepted];
    /// Holds the listing: "at most one accepted offer per listing" counts these.
    pub const HOLDING_LISTING: [OfferStatus; 2] = [OfferStatus::Accepted, OfferStatus::Paid];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    pub fn holds_listing(self) -> bool {
        Self::HOLDING_LISTING.contains(&self)
    }
}

/// What a change to an existing offer depends on, read by the store under the listing's
/// and the offer's row locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferFacts {
    pub status: OfferStatus,
    /// The offer's current price.
    pub price: Wei,
    pub listing_status: ListingStatus,
    /// Another offer of the same listing holds it (ACCEPTED or PAID).
    pub other_holds_listing: bool,
    /// The offer has an order that is not final.
    pub open_order: bool,
}

/// Every rule of a change to an existing offer, in one place: the status after `action`,
/// or the refusal. `accepted_price` is the price the poster saw when accepting (`PATCH
/// /offers/{uuid}/accept` with `{"price"}`): accepting binds it, so a price changed in
/// between refuses the accept instead of binding the poster to a price they never saw.
pub fn decide(
    action: OfferAction,
    facts: &OfferFacts,
    accepted_price: Option<Wei>,
) -> Result<OfferStatus, Refusal> {
    let next = facts.status.transition(action)?;
    match action {
        OfferAction::Accept => {
            if facts.listing_status != ListingStatus::Published {
                return Err(Refusal::ListingNotPublished {
                    step: ListingStep::AcceptOffer,
                    status: facts.listing_status,
                });
            }
            if accepted_price.is_some_and(|p| p != facts.price) {
                return Err(Refusal::OfferPriceChanged {
                    current: facts.price,
                });
            }
            if facts.other_holds_listing {
                return Err(Refusal::AcceptedOfferExists);
            }
        }
        OfferAction::Cancel if facts.open_order => return Err(Refusal::OfferHasOpenOrder),
        _ => {}
    }
    Ok(next)
}

/// A new offer: the listing must be PUBLISHED, and the offeror may have only one open
/// offer on it (`own_open_offer`: they already have one, OFFERED or ACCEPTED).
pub fn decide_new(listing_status: ListingStatus, own_open_offer: bool) -> Result<(), Refusal> {
    if listing_status != ListingStatus::Published {
        return Err(Refusal::ListingNotPublished {
            step: ListingStep::MakeOffer,
            status: listing_status,
        });
    }
    if own_open_offer {
        return Err(Refusal::OpenOfferExists);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub id: i64,
    pub uuid: Uuid,
    /// The offeror.
    pub person_uuid: Uuid,
    pub price: Wei,
    pub comment: Option<String>,
    pub status: OfferStatus,
    pub listing_id: i64,
    pub listing_uuid: Uuid,
    /// The listing's poster and type, joined in: every authorization and the payer /
    /// payee decision need them.
    pub poster_uuid: Uuid,
    pub listing_type: ListingType,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Offer {
    pub fn parties(&self) -> Parties {
        Parties::of(self.listing_type, self.poster_uuid, self.person_uuid)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewOffer {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub price: Wei,
    pub comment: Option<String>,
    pub at: Timestamp,
}

/// Longest offer comment.
pub const MAX_COMMENT: usize = 1000;

/// `POST /offers`, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct MakeOffer {
    pub listing_uuid: Uuid,
    pub price: Wei,
    pub comment: Option<String>,
}

/// `PATCH /offers/{uuid}`: `None` leaves a field alone; `comment: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferPatch {
    pub price: Option<Wei>,
    pub comment: Option<Option<String>>,
}

impl OfferPatch {
    pub fn apply(&self, o: &mut Offer, at: Timestamp) {
        if let Some(p) = self.price {
            o.price = p;
        }
        if let Some(c) = &self.comment {
            o.comment = c.clone();
        }
        o.updated_at = at;
    }
}

/// Which offers a list shows. Only offers the viewer may see come back at all: their
/// own, and (unless `mine_only`) every offer on their listings.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferQuery {
    pub viewer: Uuid,
    pub mine_only: bool,
    pub listing_uuid: Option<Uuid>,
    /// The offeror.
    pub person_uuid: Option<Uuid>,
}

impl OfferQuery {
    pub fn matches(&self, o: &Offer) -> bool {
        let visible =
            o.person_uuid == self.viewer || (!self.mine_only && o.poster_uuid == self.viewer);
        visible
            && self.listing_uuid.is_none_or(|l| o.listing_uuid == l)
            && self.person_uuid.is_none_or(|p| o.person_uuid == p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OfferAction as A;
    use OfferStatus as S;

    /// The whole table: every status × every action, the expected outcome spelled out.
    #[test]
    fn offer_transition_table_is_exactly_the_lifecycle() {
        let table: [(OfferStatus, [Option<OfferStatus>; 7]); 5] = [
            //              Update          Accept            Cancel             Pay           Refund             Complete    Unpay
            (
                S::Offered,
                [
                    Some(S::Offered),
                    Some(S::Accepted),
                    Some(S::Cancelled),
                    None,
                    None,
                    None,
                    None,
                ],
            ),
            (
                S::Accepted,
                [
                    None,
                    None,
                    Some(S::Cancelled),
                    Some(S::Paid),
                    None,
                    None,
                    None,
                ],
            ),
            (
                S::Paid,
                [
                    None,
                    None,
                    None,
                    None,
                    Some(S::Cancelled),
                    Some(S::Completed),
                    Some(S::Accepted),
                ],
            ),
            (S::Completed, [None; 7]),
            (S::Cancelled, [None; 7]),
        ];
        assert_eq!(table.len(), S::ALL.len(), "every status has a row");
        for (from, row) in table {
            for (action, expected) in A::ALL.into_iter().zip(row) {
                let got = from.transition(action);
                match expected {
                    Some(to) => assert_eq!(got, Ok(to), "{from} --{}--> {to}", action.verb()),
                    None => assert_eq!(
                        got,
                        Err(Refusal::OfferTransition {
                            status: from,
                            action
                        }),
                        "{from} --{}--> refused",
                        action.verb()
                    ),
                }
            }
        }
    }

    #[test]
    fn open_and_holding_statuses() {
        let open: Vec<_> = S::ALL.iter().copied().filter(|s| s.is_open()).collect();
        assert_eq!(open, [S::Offered, S::Accepted]);
        let holding: Vec<_> = S::ALL
            .iter()
            .copied()
            .filter(|s| s.holds_listing())
            .collect();
        assert_eq!(holding, [S::Accepted, S::Paid]);
    }

    #[test]
    fn visibility_of_offers() {
        let (me, other, third) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let offer = |offeror, poster| Offer {
            id: 1,
            uuid: Uuid::from_u128(10),
            person_uuid: offeror,
            price: Wei(1),
            comment: None,
            status: S::Offered,
            listing_id: 1,
            listing_uuid: Uuid::from_u128(20),
            poster_uuid: poster,
            listing_type: ListingType::ItemSale,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let all = OfferQuery {
            viewer: me,
            mine_only: false,
            listing_uuid: None,
            person_uuid: None,
        };
        assert!(all.matches(&offer(me, other)), "my offer");
        assert!(all.matches(&offer(other, me)), "an offer on my listing");
        assert!(!all.matches(&offer(other, third)), "strangers' business");
        let mine = OfferQuery {
            mine_only: true,
            ..all.clone()
        };
        assert!(!mine.matches(&offer(other, me)));
        let by_other = OfferQuery {
            person_uuid: Some(other),
            ..all
        };
        assert!(by_other.matches(&offer(other, me)));
        assert!(!by_other.matches(&offer(me, other)));
    }
}
