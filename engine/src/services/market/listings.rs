//! Categories and listings: create (as a DRAFT), edit, the lifecycle (publish,
//! unpublish, cancel), delete, one listing, and search.

use super::{
    MarketService, non_blank, optional_text, parse_uuid_field, required_enum, required_text,
};
use crate::domain::assets::ParentType;
use crate::domain::listing::{
    AdditionalFields, Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, Location,
    NewListing, parse_service_date,
};
use crate::domain::market::{
    Category, CategoryType, Currency, CurrencyType, ListingType, ServiceDelivery,
};
use crate::domain::money::Wei;
use crate::domain::offer::Offer;
use crate::domain::people::Person;
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Problems, Result};
use crate::events::{Event, EventEnvelope, ListingChanged, OfferChanged};
use crate::services::people::Caller;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const MAX_CONDITION: usize = 100;
const MAX_PLACE_FIELD: usize = 200;
const MAX_QUERY: usize = 200;

// --- wire types -------------------------------------------------------------------------

/// CreateLocationDto / UpdateLocationDto: `suburb`, `state_region` and `country` are
/// required; the rest of the data model's fields are optional.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationDto {
    #[schema(required, example = "Sunnyvale")]
    pub suburb: Option<String>,
    #[serde(rename = "state_region")]
    #[schema(required, example = "California")]
    pub state_region: Option<String>,
    #[schema(required, example = "USA")]
    pub country: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub place_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdditionalFieldsDto {
    /// SERVICE listings: a date (`2023-12-14`) or a date-time.
    #[schema(example = "2023-12-14")]
    pub service_date: Option<String>,
    /// ITEM listings: the item's condition.
    pub condition: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateListingDto {
    #[schema(required, example = "SERVICE_SALE")]
    pub listing_type: Option<String>,
    /// SERVICE listings only: IN_PERSON or ONLINE.
    pub service_delivery: Option<String>,
    #[schema(required, example = "Painting")]
    pub title: Option<String>,
    #[schema(required)]
    pub description: Option<String>,
    /// ETH as a decimal string, at most 18 decimals, greater than 0.
    #[schema(required, example = "0.0000002")]
    pub price: Option<String>,
    #[schema(required, example = "CRYPTO")]
    pub currency_type: Option<String>,
    #[schema(required, example = "ETH")]
    pub currency: Option<String>,
    /// A category of the listing's kind (ITEM for ITEM_*, SERVICE for SERVICE_*).
    #[schema(required, example = "49f72173-9c44-427c-80d6-9f7f8a65116f")]
    pub category_uuid: Option<String>,
    pub additional_fields: Option<AdditionalFieldsDto>,
    /// Where an in-person listing is.
    pub location: Option<LocationDto>,
}

/// The editable fields; anything else in the body is refused. `location: null` removes
/// the location; `additionalFields` replaces the whole object.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateListingDto {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<String>,
    pub additional_fields: Option<AdditionalFieldsDto>,
    #[serde(default, deserialize_with = "crate::services::double_option")]
    #[schema(value_type = Option<LocationDto>)]
    pub location: Option<Option<LocationDto>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListingView {
    pub uuid: Uuid,
    /// The poster.
    pub person_uuid: Uuid,
    pub listing_type: ListingType,
    pub title: String,
    pub description: String,
    /// ETH, normalised.
    #[schema(example = "0.0000002")]
    pub price: String,
    pub currency_type: CurrencyType,
    pub currency: Currency,
    pub status: ListingStatus,
    pub category_uuid: Uuid,
    pub additional_fields: AdditionalFields,
    pub location: Option<Location>,
    pub service_delivery: Option<ServiceDelivery>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Listing> for ListingView {
    fn from(l: &Listing) -> Self {
        Self {
            uuid: l.uuid,
            person_uuid: l.person_uuid,
            listing_type: l.listing_type,
            title: l.title.clone(),
            description: l.description.clone(),
            price: l.price.to_eth_string(),
            currency_type: l.currency_type,
            currency: l.currency,
            status: l.status,
            category_uuid: l.category_uuid,
            additional_fields: l.additional_fields.clone(),
            location: l.location.clone(),
            service_delivery: l.service_delivery,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingsPage {
    pub listings: Vec<ListingView>,
    pub after: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    pub uuid: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub category_type: CategoryType,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Category> for CategoryView {
    fn from(c: &Category) -> Self {
        Self {
            uuid: c.uuid,
            name: c.name.clone(),
            description: c.description.clone(),
            category_type: c.category_type,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The whole (fixed, seeded) list: `after` is always null.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoriesPage {
    pub categories: Vec<CategoryView>,
    pub after: Option<i64>,
}

/// The raw filters of `GET /listings` and `GET /listings/mine`, as the query string
/// carried them (`listingType` may repeat).
#[derive(Debug, Default, Clone)]
pub struct ListingFilters {
    pub q: Option<String>,
    pub listing_types: Vec<String>,
    pub person_uuid: Option<String>,
    pub updated_at_start: Option<String>,
    pub updated_at_end: Option<String>,
}

// --- parsing ----------------------------------------------------------------------------

fn parse_location(problems: &mut Problems, dto: &LocationDto, at: Timestamp) -> Option<Location> {
    let mut place = |field: &str, raw: &Option<String>| {
        problems.check(optional_text(
            &format!("location.{field}"),
            raw.as_deref(),
            MAX_PLACE_FIELD,
        ))
    };
    let address = place("address", &dto.address);
    let city = place("city", &dto.city);
    let postal_code = place("postalCode", &dto.postal_code);
    let place_id = place("placeId", &dto.place_id);
    let mut required = |field: &str, raw: &Option<String>| {
        problems.check(required_text(
            &format!("location.{field}"),
            raw.as_deref(),
            MAX_PLACE_FIELD,
        ))
    };
    let suburb = required("suburb", &dto.suburb);
    let state_region = required("state_region", &dto.state_region);
    let country = required("country", &dto.country);
    let latitude = problems.check(match dto.latitude {
        Some(l) if !(-90.0..=90.0).contains(&l) => {
            Err("location.latitude must be between -90 and 90".to_string())
        }
        l => Ok(l),
    });
    let longitude = problems.check(match dto.longitude {
        Some(l) if !(-180.0..=180.0).contains(&l) => {
            Err("location.longitude must be between -180 and 180".to_string())
        }
        l => Ok(l),
    });
    Some(Location {
        uuid: Uuid::new_v4(),
        address: address?,
        suburb: suburb?,
        city: city?,
        state_region: state_region?,
        country: country?,
        postal_code: postal_code?,
        latitude: latitude?,
        longitude: longitude?,
        place_id: place_id?,
        created_at: at,
        updated_at: at,
    })
}

/// `serviceDate` belongs to SERVICE listings, `condition` to ITEM listings.
fn parse_additional_fields(
    problems: &mut Problems,
    dto: &AdditionalFieldsDto,
    listing_type: Option<ListingType>,
) -> Option<AdditionalFields> {
    let service_date = match non_blank(dto.service_date.as_deref()) {
        None => Some(None),
        Some(_) if listing_type.is_some_and(|t| !t.is_service()) => {
            problems.push("additionalFields.serviceDate applies only to SERVICE listings");
            None
        }
        Some(raw) => problems.check(parse_service_date(raw)).map(Some),
    };
    let condition = match problems.check(optional_text(
        "additionalFields.condition",
        dto.condition.as_deref(),
        MAX_CONDITION,
    )) {
        Some(Some(_)) if listing_type.is_some_and(ListingType::is_service) => {
            problems.push("additionalFields.condition applies only to ITEM listings");
            None
        }
        other => other,
    };
    Some(AdditionalFields {
        service_date: service_date?,
        condition: condition?,
    })
}

fn parse_price(problems: &mut Problems, raw: Option<&str>) -> Option<Wei> {
    match raw {
        None => {
            problems.push("price should not be empty");
            None
        }
        Some(p) => problems.check(Wei::parse_price("price", p).map_err(String::from)),
    }
}

fn listing_event(l: &Listing) -> ListingChanged {
    ListingChanged {
        listing_uuid: l.uuid,
        person_uuid: l.person_uuid,
        listing_type: l.listing_type.as_str().into(),
        status: l.status.as_str().into(),
        title: l.title.clone(),
    }
}

pub(super) fn offer_event(o: &Offer) -> OfferChanged {
    OfferChanged::from(o)
}

impl MarketService {
    /// `GET /categories?categoryType=`.
    #[tracing::instrument(skip_all)]
    pub async fn categories(
        &self,
        caller: &Caller,
        category_type: Option<&str>,
    ) -> Result<Vec<Category>> {
        caller.person()?;
        let kind = non_blank(category_type)
            .map(CategoryType::parse)
            .transpose()
            .map_err(Error::validation)?;
        Ok(self.store.list_categories(kind).await?)
    }

    /// `POST /listings`: a DRAFT, every field checked (all problems at once).
    #[tracing::instrument(skip_all)]
    pub async fn create_listing(&self, caller: &Caller, dto: CreateListingDto) -> Result<Listing> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let at = time::now();
        let listing_type = problems.check(required_enum(
            "listingType",
            dto.listing_type.as_deref(),
            ListingType::parse,
        ));
        let title = problems.check(required_text("title", dto.title.as_deref(), MAX_TITLE));
        let description = problems.check(required_text(
            "description",
            dto.description.as_deref(),
            MAX_DESCRIPTION,
        ));
        let price = parse_price(&mut problems, dto.price.as_deref());
        let currency_type = problems.check(required_enum(
            "currencyType",
            dto.currency_type.as_deref(),
            CurrencyType::parse_supported,
        ));
        let currency = problems.check(required_enum(
            "currency",
            dto.currency.as_deref(),
            Currency::parse,
        ));
        let service_delivery = match non_blank(dto.service_delivery.as_deref()) {
            None => Some(None),
            Some(_) if listing_type.is_some_and(|t| !t.is_service()) => {
                problems.push("serviceDelivery applies only to SERVICE listings");
                None
            }
            Some(raw) => problems.check(ServiceDelivery::parse(raw)).map(Some),
        };
        let additional_fields = match &dto.additional_fields {
            None => Some(AdditionalFields::default()),
            Some(f) => parse_additional_fields(&mut problems, f, listing_type),
        };
        let location = match &dto.location {
            None => Some(None),
            Some(l) => parse_location(&mut problems, l, at).map(Some),
        };
        let category_uuid = match non_blank(dto.category_uuid.as_deref()) {
            None => {
                problems.push("categoryUuid should not be empty");
                None
            }
            Some(raw) => problems.check(parse_uuid_field("categoryUuid", raw)),
        };
        // The category must exist and be of the listing's kind: a 400 naming the field,
        // since it is the body that is wrong.
        if let Some(uuid) = category_uuid {
            match self.store.category_by_uuid(uuid).await? {
                None => problems.push("categoryUuid must name an existing category"),
                Some(c) => {
                    if let Some(t) = listing_type
                        && c.category_type != t.category_type()
                    {
                        problems.push(format!(
                            "categoryUuid must name a category of type {} for listingType {}",
                            t.category_type(),
                            t
                        ));
                    }
                }
            }
        }
        problems.finish()?;
        let (
            Some(listing_type),
            Some(title),
            Some(description),
            Some(price),
            Some(currency_type),
            Some(currency),
            Some(service_delivery),
            Some(additional_fields),
            Some(location),
            Some(category_uuid),
        ) = (
            listing_type,
            title,
            description,
            price,
            currency_type,
            currency,
            service_delivery,
            additional_fields,
            location,
            category_uuid,
        )
        else {
            return Err(Error::Internal("parsed listing fields missing".into()));
        };
        let new = NewListing {
            uuid: Uuid::new_v4(),
            person_uuid: me.uuid,
            listing_type,
            title,
            description,
            price,
            currency_type,
            currency,
            category_uuid,
            additional_fields,
            location,
            service_delivery,
            at,
        };
        let event = EventEnvelope::new(Event::ListingCreated(listing_event(&new.stored(0))), at);
        let listing = self.store.insert_listing(&new, &[event]).await?;
        self.outbox.nudge();
        tracing::info!(listing = %listing.uuid, person = %me.uuid, "listing created");
        Ok(listing)
    }

    /// `GET /listings/{uuid}`.
    #[tracing::instrument(skip_all)]
    pub async fn listing(&self, caller: &Caller, uuid: Uuid) -> Result<Listing> {
        self.visible_listing(caller.person()?, uuid).await
    }

    /// `PATCH /listings/{uuid}`: the owner's editable fields, in DRAFT, PUBLISHED or
    /// PAUSED, and never while an order is open (the store checks both as it writes).
    #[tracing::instrument(skip_all)]
    pub async fn update_listing(
        &self,
        caller: &Caller,
        uuid: Uuid,
        dto: UpdateListingDto,
    ) -> Result<Listing> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, "edit").await?;
        let at = time::now();
        let mut problems = Problems::new();
        let patch = ListingPatch {
            title: dto
                .title
                .as_deref()
                .and_then(|t| problems.check(required_text("title", Some(t), MAX_TITLE))),
            description: dto.description.as_deref().and_then(|d| {
                problems.check(required_text("description", Some(d), MAX_DESCRIPTION))
            }),
            price: dto
                .price
                .as_deref()
                .and_then(|p| parse_price(&mut problems, Some(p))),
            additional_fields: dto.additional_fields.as_ref().and_then(|f| {
                parse_additional_fields(&mut problems, f, Some(current.listing_type))
            }),
            location: dto.location.as_ref().map(|l| {
                l.as_ref()
                    .and_then(|l| parse_location(&mut problems, l, at))
            }),
        };
        problems.finish()?;
        let mut after = current.clone();
        patch.apply(&mut after, at);
        let event = EventEnvelope::new(Event::ListingUpdated(listing_event(&after)), at);
        let listing = self
            .store
            .update_listing(uuid, &patch, at, &[event])
            .await?;
        self.outbox.nudge();
        Ok(listing)
    }

    /// `PATCH /listings/{uuid}/publish|unpublish|cancel`.
    #[tracing::instrument(skip_all)]
    pub async fn transition_listing(
        &self,
        caller: &Caller,
        uuid: Uuid,
        action: ListingAction,
    ) -> Result<Listing> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, action.verb()).await?;
        // The target status does not depend on the source, so the event can be built
        // now; the store refuses (and writes nothing) if the transition is not allowed.
        let target = current.status.transition(action).map_err(Error::Refused)?;
        let at = time::now();
        let mut after = current.clone();
        after.status = target;
        after.updated_at = at;
        let changed = listing_event(&after);
        let event = match action {
            ListingAction::Publish => Event::ListingPublished(changed),
            ListingAction::Unpublish => Event::ListingUnpublished(changed),
            ListingAction::Cancel => Event::ListingCancelled(changed),
            _ => {
                return Err(Error::Internal(format!(
                    "{} is not an owner action",
                    action.verb()
                )));
            }
        };
        let cascade =
            move |o: &Offer| EventEnvelope::new(Event::OfferCancelled(offer_event(o)), at);
        let listing = self
            .store
            .transition_listing(uuid, action, at, &[EventEnvelope::new(event, at)], &cascade)
            .await?;
        self.outbox.nudge();
        tracing::info!(listing = %uuid, status = %listing.status, "listing {}ed", action.verb());
        Ok(listing)
    }

    /// `DELETE /listings/{uuid}`: the owner's, unless an order is open.
    #[tracing::instrument(skip_all)]
    pub async fn delete_listing(&self, caller: &Caller, uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, "delete").await?;
        let event = EventEnvelope::new(Event::ListingDeleted(listing_event(&current)), time::now());
        // Read before the rows go; removed only once the deletion committed (a listing
        // with an open order is refused and keeps every byte).
        let gone = self
            .store
            .assets_of_parent(ParentType::Listing, uuid)
            .await?;
        self.store.delete_listing(uuid, &[event]).await?;
        self.outbox.nudge();
        self.assets.remove_objects(&gone).await;
        tracing::info!(listing = %uuid, "listing deleted");
        Ok(())
    }

    fn parse_filters(&self, filters: &ListingFilters, problems: &mut Problems) -> ListingQuery {
        let q = non_blank(filters.q.as_deref()).and_then(|q| {
            if q.chars().count() > MAX_QUERY {
                problems.push(format!("q must be at most {MAX_QUERY} characters"));
                None
            } else {
                Some(q.to_string())
            }
        });
        let mut listing_types = Vec::new();
        for raw in &filters.listing_types {
            if let Some(t) = problems.check(ListingType::parse(raw.trim()))
                && !listing_types.contains(&t)
            {
                listing_types.push(t);
            }
        }
        ListingQuery {
            q,
            listing_types,
            person_uuid: non_blank(filters.person_uuid.as_deref())
                .and_then(|p| problems.check(parse_uuid_field("personUuid", p))),
            updated_at_start: non_blank(filters.updated_at_start.as_deref())
                .and_then(|t| problems.check(time::parse("updatedAtStart", t))),
            updated_at_end: non_blank(filters.updated_at_end.as_deref())
                .and_then(|t| problems.check(time::parse("updatedAtEnd", t))),
            published_only: true,
        }
    }

    /// `GET /listings`: PUBLISHED listings, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn search_listings(
        &self,
        caller: &Caller,
        filters: &ListingFilters,
        page: PageRequest,
    ) -> Result<Page<Listing>> {
        caller.person()?;
        let mut problems = Problems::new();
        let query = self.parse_filters(filters, &mut problems);
        problems.finish()?;
        Ok(self.store.search_listings(&query, &page).await?)
    }

    /// `GET /listings/mine`: the caller's listings in every status (a `personUuid`
    /// filter is ignored: it is always the caller).
    #[tracing::instrument(skip_all)]
    pub async fn my_listings(
        &self,
        caller: &Caller,
        filters: &ListingFilters,
        page: PageRequest,
    ) -> Result<Page<Listing>> {
        let me: &Person = caller.person()?;
        let mut problems = Problems::new();
        let mut query = self.parse_filters(
            &ListingFilters {
                person_uuid: None,
                ..filters.clone()
            },
            &mut problems,
        );
        problems.finish()?;
        query.person_uuid = Some(me.uuid);
        query.published_only = false;
        Ok(self.store.search_listings(&query, &page).await?)
    }
}
