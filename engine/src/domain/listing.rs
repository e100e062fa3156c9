//! Listings: what a person offers or wants, its lifecycle
//! (reference/diagrams/listing-lifecycle.png), its fields and how they parse.

use super::Timestamp;
use super::market::{Currency, CurrencyType, ListingType, ServiceDelivery, wire_enum};
use super::money::Wei;
use super::refusal::{OwnerChange, Refusal};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

wire_enum! {
    pub enum ListingStatus ("status") {
        Draft = "DRAFT",
        Published = "PUBLISHED",
        Paused = "PAUSED",
        Cancelled = "CANCELLED",
        Ordered = "ORDERED",
        Completed = "COMPLETED",
    }
}

/// Everything that can happen to a listing. The first four come from its owner's REST
/// calls; the last three only from its order (the escrow lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListingAction {
    Publish,
    Unpublish,
    Cancel,
    /// PATCH of its fields: not a change of status, but allowed only in some.
    Edit,
    /// An offer on it was paid: the listing is taken.
    Order,
    /// Its order was cancelled (refunded): back on the market.
    ReopenAfterOrder,
    /// The item or service was delivered and the funds released.
    Complete,
}

impl ListingAction {
    pub const ALL: [ListingAction; 7] = [
        Self::Publish,
        Self::Unpublish,
        Self::Cancel,
        Self::Edit,
        Self::Order,
        Self::ReopenAfterOrder,
        Self::Complete,
    ];

    pub fn verb(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Unpublish => "unpublish",
            Self::Cancel => "cancel",
            Self::Edit => "edit",
            Self::Order => "order",
            Self::ReopenAfterOrder => "reopen",
            Self::Complete => "complete",
        }
    }

    /// Owner actions an open order forbids: the payer must get what they were quoted.
    pub fn blocked_by_open_order(self) -> bool {
        matches!(self, Self::Unpublish | Self::Cancel | Self::Edit)
    }
}

impl ListingStatus {
    /// The lifecycle, in one place: the status after `action`, or why not.
    pub fn transition(self, action: ListingAction) -> Result<ListingStatus, Refusal> {
        use ListingAction as A;
        use ListingStatus as S;
        let next = match (self, action) {
            (S::Draft | S::Paused, A::Publish) => S::Published,
            (S::Published, A::Unpublish) => S::Paused,
            (S::Draft | S::Published | S::Paused, A::Cancel) => S::Cancelled,
            (S::Draft | S::Published | S::Paused, A::Edit) => self,
            (S::Published, A::Order) => S::Ordered,
            (S::Ordered, A::ReopenAfterOrder) => S::Published,
            (S::Ordered, A::Complete) => S::Completed,
            _ => {
                return Err(Refusal::ListingTransition {
                    status: self,
                    action,
                });
            }
        };
        Ok(next)
    }

    /// Visible to everyone signed in; a draft is its owner's alone.
    pub fn is_public(self) -> bool {
        self != ListingStatus::Draft
    }
}

/// Every rule of an owner's status change or edit, in one place: the status after
/// `action`, or the refusal. `open_order`: the listing has an order that is not final
/// (read by the store under the listing's row lock).
pub fn decide(
    action: ListingAction,
    status: ListingStatus,
    open_order: bool,
) -> Result<ListingStatus, Refusal> {
    let next = status.transition(action)?;
    if action.blocked_by_open_order() && open_order {
        return Err(Refusal::ListingHasOpenOrder {
            change: OwnerChange::Action(action),
        });
    }
    Ok(next)
}

/// Deleting a listing: refused while an order is open (its payer was quoted for it).
pub fn decide_delete(open_order: bool) -> Result<(), Refusal> {
    if open_order {
        return Err(Refusal::ListingHasOpenOrder {
            change: OwnerChange::Delete,
        });
    }
    Ok(())
}

/// Where an in-person listing is. `state_region` keeps the spec's spelling on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub uuid: Uuid,
    pub address: Option<String>,
    pub suburb: String,
    pub city: Option<String>,
    #[serde(rename = "state_region")]
    pub state_region: String,
    pub country: String,
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub place_id: Option<String>,
    #[serde(with = "super::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "super::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// Fields specific to the listing type, stored as the JSON object the app sends
/// (normalised: `serviceDate` as `YYYY-MM-DD` or a millisecond RFC 3339 instant).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalFields {
    /// SERVICE listings: when the service is to be delivered (a date or a date-time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_date: Option<String>,
    /// ITEM listings: the item's condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Parses `serviceDate`: the original app sends a date (`2023-12-14`) or a date-time
/// (`2023-12-14T09:00:00.000Z`, any offset).
pub fn parse_service_date(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.format("%Y-%m-%d").to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(super::time::format(&super::time::truncate(
            t.with_timezone(&chrono::Utc),
        )));
    }
    Err("additionalFields.serviceDate must be an ISO 8601 date or date-time".into())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub id: i64,
    pub uuid: Uuid,
    /// The poster.
    pub person_uuid: Uuid,
    pub listing_type: ListingType,
    pub title: String,
    pub description: String,
    pub price: Wei,
    pub currency_type: CurrencyType,
    pub currency: Currency,
    pub status: ListingStatus,
    pub category_uuid: Uuid,
    pub additional_fields: AdditionalFields,
    pub location: Option<Location>,
    pub service_delivery: Option<ServiceDelivery>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A new listing, every field parsed; it starts as a DRAFT.
#[derive(Debug, Clone, PartialEq)]
pub struct NewListing {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub listing_type: ListingType,
    pub title: String,
    pub description: String,
    pub price: Wei,
    pub currency_type: CurrencyType,
    pub currency: Currency,
    pub category_uuid: Uuid,
    pub additional_fields: AdditionalFields,
    pub location: Option<Location>,
    pub service_delivery: Option<ServiceDelivery>,
    pub at: Timestamp,
}

impl NewListing {
    /// The row this becomes, given its id.
    pub fn stored(&self, id: i64) -> Listing {
        Listing {
            id,
            uuid: self.uuid,
            person_uuid: self.person_uuid,
            listing_type: self.listing_type,
            title: self.title.clone(),
            description: self.description.clone(),
            price: self.price,
            currency_type: self.currency_type,
            currency: self.currency,
            status: ListingStatus::Draft,
            category_uuid: self.category_uuid,
            additional_fields: self.additional_fields.clone(),
            location: self.location.clone(),
            service_delivery: self.service_delivery,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

/// The editable fields (`PATCH /listings/{uuid}`). `None` leaves a field alone;
/// `location: Some(None)` removes the location.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListingPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<Wei>,
    pub additional_fields: Option<AdditionalFields>,
    pub location: Option<Option<Location>>,
}

impl ListingPatch {
    /// Applies the patch. A replaced location keeps the existing row's uuid and
    /// creation time: it is the same location, moved.
    pub fn apply(&self, l: &mut Listing, at: Timestamp) {
        if let Some(t) = &self.title {
            l.title = t.clone();
        }
        if let Some(d) = &self.description {
            l.description = d.clone();
        }
        if let Some(p) = self.price {
            l.price = p;
        }
        if let Some(f) = &self.additional_fields {
            l.additional_fields = f.clone();
        }
        if let Some(loc) = &self.location {
            l.location = loc.clone().map(|mut new| {
                if let Some(old) = &l.location {
                    new.uuid = old.uuid;
                    new.created_at = old.created_at;
                }
                new.updated_at = at;
                new
            });
        }
        l.updated_at = at;
    }
}

/// Filters of `GET /listings` and `GET /listings/mine`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListingQuery {
    /// Full-text search on title and description (PostgreSQL `websearch_to_tsquery`
    /// syntax; the memory store's equivalent is `domain::search`).
    pub q: Option<String>,
    /// Any of these types; empty = all.
    pub listing_types: Vec<ListingType>,
    /// The poster.
    pub person_uuid: Option<Uuid>,
    pub updated_at_start: Option<Timestamp>,
    pub updated_at_end: Option<Timestamp>,
    /// `GET /listings` shows PUBLISHED listings only; `/listings/mine` every status.
    pub published_only: bool,
}

impl ListingQuery {
    /// Every filter except the text search, which the store does its own way.
    pub fn matches_filters(&self, l: &Listing) -> bool {
        (!self.published_only || l.status == ListingStatus::Published)
            && (self.listing_types.is_empty() || self.listing_types.contains(&l.listing_type))
            && self.person_uuid.is_none_or(|p| l.person_uuid == p)
            && self.updated_at_start.is_none_or(|t| l.updated_at >= t)
            && self.updated_at_end.is_none_or(|t| l.updated_at <= t)
    }
}

/// `POST /listings`, parsed at the http edge (every field's shape and the type-dependent
/// fields of the same body). The category's existence and kind need the store, so the
/// service checks them.
#[derive(Debug, Clone)]
pub struct CreateListing {
    pub listing_type: ListingType,
    pub title: String,
    pub description: String,
    pub price: Wei,
    pub currency_type: CurrencyType,
    pub currency: Currency,
    pub category_uuid: Uuid,
    pub additional_fields: AdditionalFields,
    pub location: Option<Location>,
    pub service_delivery: Option<ServiceDelivery>,
}

/// `PATCH /listings/{uuid}`, parsed at the http edge: the fields that parsed and the
/// body's shape problems. Which additional fields fit depends on the stored listing's
/// type, so those problems come from [`edit_problems`] and the service reports both
/// lists in one 400.
#[derive(Debug, Default)]
pub struct ListingEdit {
    pub patch: ListingPatch,
    /// The body's own problems, in field order.
    pub problems: Vec<String>,
    /// `additionalFields.serviceDate` was given (not blank).
    pub sets_service_date: bool,
    /// `additionalFields.condition` was given and well formed.
    pub sets_condition: bool,
}

/// The problems of an edit that depend on the stored listing's type: `serviceDate`
/// belongs to SERVICE listings, `condition` to ITEM listings.
pub fn edit_problems(listing_type: ListingType, edit: &ListingEdit) -> Vec<String> {
    let mut problems = Vec::new();
    if edit.sets_service_date && !listing_type.is_service() {
        problems.push("additionalFields.serviceDate applies only to SERVICE listings".to_string());
    }
    if edit.sets_condition && listing_type.is_service() {
        problems.push("additionalFields.condition applies only to ITEM listings".to_string());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListingAction as A;
    use ListingStatus as S;

    /// The whole table: every status × every action, the expected outcome spelled out.
    #[test]
    fn listing_transition_table_is_exactly_the_lifecycle() {
        let table: [(ListingStatus, [Option<ListingStatus>; 7]); 6] = [
            //            Publish          Unpublish        Cancel             Edit              Order            Reopen           Complete
            (
                S::Draft,
                [
                    Some(S::Published),
                    None,
                    Some(S::Cancelled),
                    Some(S::Draft),
                    None,
                    None,
                    None,
                ],
            ),
            (
                S::Published,
                [
                    None,
                    Some(S::Paused),
                    Some(S::Cancelled),
                    Some(S::Published),
                    Some(S::Ordered),
                    None,
                    None,
                ],
            ),
            (
                S::Paused,
                [
                    Some(S::Published),
                    None,
                    Some(S::Cancelled),
                    Some(S::Paused),
                    None,
                    None,
                    None,
                ],
            ),
            (S::Cancelled, [None, None, None, None, None, None, None]),
            (
                S::Ordered,
                [
                    None,
                    None,
                    None,
                    None,
                    None,
                    Some(S::Published),
                    Some(S::Completed),
                ],
            ),
            (S::Completed, [None, None, None, None, None, None, None]),
        ];
        assert_eq!(table.len(), S::ALL.len(), "every status has a row");
        for (from, row) in table {
            for (action, expected) in A::ALL.into_iter().zip(row) {
                let got = from.transition(action);
                match expected {
                    Some(to) => assert_eq!(got, Ok(to), "{from} --{}--> {to}", action.verb()),
                    None => assert_eq!(
                        got,
                        Err(Refusal::ListingTransition {
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
    fn refusal_names_the_current_status() {
        assert_eq!(
            S::Cancelled.transition(A::Publish).unwrap_err().to_string(),
            "Cannot publish a listing that is CANCELLED"
        );
        assert_eq!(
            Refusal::ListingHasOpenOrder {
                change: crate::domain::refusal::OwnerChange::Action(A::Cancel)
            }
            .to_string(),
            "Cannot cancel a listing with an open order"
        );
    }

    #[test]
    fn only_owner_changes_are_blocked_by_an_open_order() {
        let blocked: Vec<_> = A::ALL
            .into_iter()
            .filter(|a| a.blocked_by_open_order())
            .collect();
        assert_eq!(blocked, [A::Unpublish, A::Cancel, A::Edit]);
    }

    #[test]
    fn service_dates_are_dates_or_date_times() {
        assert_eq!(parse_service_date("2023-12-14").unwrap(), "2023-12-14");
        assert_eq!(
            parse_service_date("2023-12-14T09:30:00+10:00").unwrap(),
            "2023-12-13T23:30:00.000Z"
        );
        for bad in ["14/12/2023", "2023-13-01", "tomorrow", ""] {
            assert!(parse_service_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_keeps_the_location_identity() {
        let t0 = super::super::time::parse("t", "2024-01-01T00:00:00Z").unwrap();
        let t1 = super::super::time::parse("t", "2024-02-01T00:00:00Z").unwrap();
        let loc = |uuid: u128, suburb: &str, at| Location {
            uuid: Uuid::from_u128(uuid),
            address: None,
            suburb: suburb.into(),
            city: None,
            state_region: "NSW".into(),
            country: "Australia".into(),
            postal_code: None,
            latitude: None,
            longitude: None,
            place_id: None,
            created_at: at,
            updated_at: at,
        };
        let mut l = NewListing {
            uuid: Uuid::from_u128(9),
            person_uuid: Uuid::from_u128(8),
            listing_type: ListingType::ItemSale,
            title: "Fridge".into(),
            description: "Cold".into(),
            price: Wei(1),
            currency_type: CurrencyType::Crypto,
            currency: Currency::Eth,
            category_uuid: Uuid::from_u128(7),
            additional_fields: AdditionalFields::default(),
            location: Some(loc(1, "Sunnyvale", t0)),
            service_delivery: None,
            at: t0,
        }
        .stored(1);
        let patch = ListingPatch {
            title: Some("Big fridge".into()),
            location: Some(Some(loc(2, "North Ryde", t1))),
            ..Default::default()
        };
        patch.apply(&mut l, t1);
        let moved = l.location.clone().unwrap();
        assert_eq!(
            (moved.uuid, moved.created_at, moved.updated_at),
            (Uuid::from_u128(1), t0, t1)
        );
        assert_eq!(moved.suburb, "North Ryde");
        assert_eq!(
            (l.title.as_str(), l.description.as_str(), l.updated_at),
            ("Big fridge", "Cold", t1)
        );
        ListingPatch {
            location: Some(None),
            ..Default::default()
        }
        .apply(&mut l, t1);
        assert_eq!(l.location, None);
    }

    #[test]
    fn edit_problems_depend_on_the_stored_type() {
        let both = ListingEdit {
            sets_service_date: true,
            sets_condition: true,
            ..Default::default()
        };
        assert_eq!(
            edit_problems(ListingType::ItemSale, &both),
            ["additionalFields.serviceDate applies only to SERVICE listings"]
        );
        assert_eq!(
            edit_problems(ListingType::ServiceSale, &both),
            ["additionalFields.condition applies only to ITEM listings"]
        );
        assert!(edit_problems(ListingType::ItemSale, &ListingEdit::default()).is_empty());
    }
}
