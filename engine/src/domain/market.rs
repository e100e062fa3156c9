//! Marketplace vocabulary shared by listings, offers, wallets and orders: the wire enums,
//! categories, and who pays whom.

use super::Timestamp;
use uuid::Uuid;

/// A closed set of wire values (`ITEM_SALE`, `CRYPTO`...): serde and the OpenAPI schema
/// use the spelling given, and `parse` refuses anything else with the message
/// class-validator would give ("listingType must be one of the following values: ...").
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($field:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Parses the wire spelling; the error names the field and lists the values.
            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(format!(
                        "{} must be one of the following values: {}",
                        $field,
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// What a listing is about: an item or a service, offered (sale) or wanted (purchase).
    pub enum ListingType ("listingType") {
        ItemSale = "ITEM_SALE",
        ItemPurchase = "ITEM_PURCHASE",
        ServiceSale = "SERVICE_SALE",
        ServicePurchase = "SERVICE_PURCHASE",
    }
}

wire_enum! {
    pub enum CategoryType ("categoryType") {
        Item = "ITEM",
        Service = "SERVICE",
    }
}

wire_enum! {
    /// The spec's enum has FIAT, but only crypto is supported (see `CurrencyType::check`).
    pub enum CurrencyType ("currencyType") {
        Crypto = "CRYPTO",
        Fiat = "FIAT",
    }
}

wire_enum! {
    pub enum Currency ("currency") {
        Eth = "ETH",
    }
}

wire_enum! {
    /// How a service is delivered; only SERVICE listings have one.
    pub enum ServiceDelivery ("serviceDelivery") {
        InPerson = "IN_PERSON",
        Online = "ONLINE",
    }
}

impl CurrencyType {
    /// The spec names FIAT but says "only Crypto currency is supported at this time":
    /// a FIAT listing could never be paid through the escrow, so it is refused up front.
    pub fn parse_supported(raw: &str) -> Result<Self, String> {
        match Self::parse(raw)? {
            CurrencyType::Crypto => Ok(CurrencyType::Crypto),
            CurrencyType::Fiat => {
                Err("currencyType must be CRYPTO: only crypto currency is supported".into())
            }
        }
    }
}

impl ListingType {
    /// The category type a listing of this type must be filed under.
    pub fn category_type(self) -> CategoryType {
        match self {
            ListingType::ItemSale | ListingType::ItemPurchase => CategoryType::Item,
            ListingType::ServiceSale | ListingType::ServicePurchase => CategoryType::Service,
        }
    }

    pub fn is_service(self) -> bool {
        self.category_type() == CategoryType::Service
    }

    /// Who pays, per the overview's table: on a SALE listing the offeror buys from the
    /// poster; on a PURCHASE listing the poster buys from the offeror.
    pub fn payer_is_offeror(self) -> bool {
        matches!(self, ListingType::ItemSale | ListingType::ServiceSale)
    }
}

/// The two parties of a trade, as person uuids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    pub payer: Uuid,
    pub payee: Uuid,
}

impl Parties {
    /// Payer and payee of an offer by `offeror` on a listing of `listing_type` by `poster`.
    pub fn of(listing_type: ListingType, poster: Uuid, offeror: Uuid) -> Self {
        if listing_type.payer_is_offeror() {
            Parties {
                payer: offeror,
                payee: poster,
            }
        } else {
            Parties {
                payer: poster,
                payee: offeror,
            }
        }
    }
}

/// A pre-defined category (seeded by `migrations/V4__seed_categories.sql`).
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub category_type: CategoryType,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payer_and_payee_follow_the_overview_table() {
        let (poster, offeror) = (Uuid::from_u128(1), Uuid::from_u128(2));
        for (t, payer, payee) in [
            (ListingType::ItemSale, offeror, poster),
            (ListingType::ServiceSale, offeror, poster),
            (ListingType::ItemPurchase, poster, offeror),
            (ListingType::ServicePurchase, poster, offeror),
        ] {
            assert_eq!(
                Parties::of(t, poster, offeror),
                Parties { payer, payee },
                "{t}"
            );
        }
    }

    #[test]
    fn listing_types_map_to_category_types() {
        assert_eq!(ListingType::ItemSale.category_type(), CategoryType::Item);
        assert_eq!(
            ListingType::ItemPurchase.category_type(),
            CategoryType::Item
        );
        assert_eq!(
            ListingType::ServiceSale.category_type(),
            CategoryType::Service
        );
        assert_eq!(
            ListingType::ServicePurchase.category_type(),
            CategoryType::Service
        );
    }

    #[test]
    fn wire_enums_parse_their_spelling_only() {
        assert_eq!(ListingType::parse("ITEM_SALE"), Ok(ListingType::ItemSale));
        assert_eq!(
            ListingType::parse("item_sale").unwrap_err(),
            "listingType must be one of the following values: ITEM_SALE, ITEM_PURCHASE, SERVICE_SALE, SERVICE_PURCHASE"
        );
        assert_eq!(
            CurrencyType::parse_supported("CRYPTO"),
            Ok(CurrencyType::Crypto)
        );
        assert!(CurrencyType::parse_supported("FIAT").is_err());
        assert_eq!(
            serde_json::to_value(ServiceDelivery::InPerson).unwrap(),
            "IN_PERSON"
        );
        for t in ListingType::ALL {
            assert_eq!(ListingType::parse(t.as_str()), Ok(*t));
        }
    }
}
