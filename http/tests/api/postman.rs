//! The original Listing API Postman collection
//! (reference/api/listing-api.postman_collection.json), replayed as written in `gateway`
//! auth mode: the same methods, paths, query strings and raw bodies, with
//! `x-cognito-user-id` naming the caller. Only the collection's fixed uuids are replaced
//! by the ones this run created (its listings, offers and wallets do not exist here).
//! Left out: payment (`/orders/{uuid}/complete`, `/orders/{uuid}/cancel`), which the
//! escrow capability serves; the collection's `/ethereum/alchemy-webhook` example is
//! replayed by `ethereum.rs` (it needs a signing key and a chain).

use crate::harness::{Backend, Resp, TestApp};
use crate::market::SERVICE_CATEGORY;
use reqwest::Method;
use serde_json::{Value, json};

/// A signed-up user as the sign-up trigger makes them: INTERNAL `POST /accounts` and
/// `POST /people`, then known to the gateway by their Cognito user id.
struct GatewayUser {
    sub: String,
    person_uuid: String,
}

async fn sign_up(app: &TestApp, username: &str) -> GatewayUser {
    let key = app.internal_key();
    let sub = format!("cognito-{username}-{}", uuid::Uuid::new_v4());
    let account = app
        .send(
            app.client
                .post(app.url("/accounts"))
                .header("x-internal-api-key", &key)
                .json(&json!({"cognitoUserId": sub})),
        )
        .await
        .expect(201);
    let person = app
        .send(
            app.client
                .post(app.url("/people"))
                .header("x-internal-api-key", &key)
                .json(&json!({"username": username, "email": format!("{username}@metmos.io"), "accountUuid": account.body["uuid"]})),
        )
        .await
        .expect(201);
    GatewayUser {
        sub,
        person_uuid: person.body["uuid"].as_str().unwrap().to_string(),
    }
}

/// One request of the collection: `raw` is its body exactly as the collection has it.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    who: Option<&GatewayUser>,
    raw: Option<String>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path));
    if let Some(u) = who {
        req = req.header("x-cognito-user-id", &u.sub);
    }
    if let Some(body) = raw {
        req = req.header("content-type", "application/json").body(body);
    }
    app.send(req).await
}

const CREATE_LISTING: &str = "{\n  \"listingType\": \"SERVICE_SALE\",\n  \"title\": \"Painting\",\n  \"description\": \"aaaaaaaaa\",\n  \"price\": \"0.0000002\",\n  \"currencyType\": \"CRYPTO\",\n  \"currency\": \"ETH\",\n  \"categoryUuid\": \"49f72173-9c44-427c-80d6-9f7f8a65116f\",\n  \"additionalFields\": {\n    \"serviceDate\": \"2023-12-14\"\n  },\n  \"location\": {\n    \"suburb\": \"Sunnyvale\",\n    \"state_region\": \"California\",\n    \"country\": \"USA\"\n  }\n}";
const UPDATE_LISTING: &str = "{\n  \"title\": \"Painting fence\",\n   \"additionalFields\": {\n        \"serviceDate\": \"2023-12-28\"\n   },\n  \"location\": {\n    \"suburb\": \"North Ryde\",\n    \"state_region\": \"NSW\",\n    \"country\": \"Australia\"\n  }\n}";
const CREATE_OFFER: &str = "{\n  \"listingUuid\": \"fba47127-5281-48ae-ac95-49606560c0e4\",\n  \"price\": \"1.2\",\n  \"comment\": \"\"\n}";
const UPDATE_OFFER: &str = "{\n  \"price\": \"1.15\",\n  \"comment\": \"My final offer\"\n}";
const CREATE_WALLET: &str = "{\n  \"chain\": \"ETHEREUM\",\n  \"walletType\": \"METAMASK\",\n  \"network\": \"Sepolia\",\n  \"balance\": \"0.1897\",\n  \"currency\": \"ETH\",\n  \"address\": \"0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421\"\n}";
const CREATE_ORDER: &str = "{\n  \"offerUuid\": \"08fef2af-a1ed-465a-b6b3-da53425f83de\"\n}";

/// The collection's uuid for a resource, swapped for this run's.
fn with(raw: &str, collection_uuid: &str, ours: &str) -> String {
    assert!(
        raw.contains(collection_uuid),
        "the collection's body names {collection_uuid}"
    );
    raw.replace(collection_uuid, ours)
}

async fn replay(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("auth.mode", "gateway")]).await;
    // GET /health
    let health = call(&app, Method::GET, "/health", None, None)
        .await
        .expect(200);
    assert_eq!(health.body["status"], "ok");
    // Gateway mode: no dev users, and no header means no caller.
    call(&app, Method::POST, "/dev/users", None, Some("{}".into()))
        .await
        .expect_error(404);
    call(&app, Method::GET, "/listings/mine", None, None)
        .await
        .expect_error(401);

    let zack = sign_up(&app, "zackross").await; // the poster
    let mary = sign_up(&app, "maryjane").await; // the offeror (SERVICE_SALE: she pays)

    // POST /listings (SERVICE_SALE, a plain serviceDate, the collection's category)
    let created = call(
        &app,
        Method::POST,
        "/listings",
        Some(&zack),
        Some(CREATE_LISTING.into()),
    )
    .await
    .expect(201);
    assert_eq!(created.body["status"], "DRAFT");
    assert_eq!(created.body["price"], "0.0000002");
    assert_eq!(created.body["categoryUuid"], SERVICE_CATEGORY);
    assert_eq!(created.body["personUuid"], zack.person_uuid.as_str());
    let listing = created.body["uuid"].as_str().unwrap().to_string();

    // GET /listings/mine
    let mine = call(&app, Method::GET, "/listings/mine", Some(&zack), None)
        .await
        .expect(200);
    assert_eq!(mine.body["listings"][0]["uuid"], listing.as_str());
    // GET /listings/{uuid}
    let one = call(
        &app,
        Method::GET,
        &format!("/listings/{listing}"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(one.body, created.body);
    // PATCH /listings/{uuid}
    let updated = call(
        &app,
        Method::PATCH,
        &format!("/listings/{listing}"),
        Some(&zack),
        Some(UPDATE_LISTING.into()),
    )
    .await
    .expect(200);
    assert_eq!(updated.body["title"], "Painting fence");
    assert_eq!(
        updated.body["additionalFields"]["serviceDate"],
        "2023-12-28"
    );
    assert_eq!(updated.body["location"]["suburb"], "North Ryde");
    // PATCH /listings/{uuid}/publish
    let published = call(
        &app,
        Method::PATCH,
        &format!("/listings/{listing}/publish"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(published.body["status"], "PUBLISHED");
    // GET /listings?updatedAtStart=2023-11-10T04:37:50.375Z&limit=20
    let browse = call(
        &app,
        Method::GET,
        "/listings?updatedAtStart=2023-11-10T04:37:50.375Z&limit=20",
        Some(&mary),
        None,
    )
    .await
    .expect(200);
    assert_eq!(browse.body["listings"][0]["uuid"], listing.as_str());
    assert_eq!(browse.body["after"], Value::Null);
    // GET /categories?categoryType=SERVICE
    let categories = call(
        &app,
        Method::GET,
        "/categories?categoryType=SERVICE",
        Some(&mary),
        None,
    )
    .await
    .expect(200);
    assert!(
        categories.body["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["uuid"] == SERVICE_CATEGORY)
    );

    // POST /offers
    let made = call(
        &app,
        Method::POST,
        "/offers",
        Some(&mary),
        Some(with(
            CREATE_OFFER,
            "fba47127-5281-48ae-ac95-49606560c0e4",
            &listing,
        )),
    )
    .await
    .expect(201);
    assert_eq!(
        (
            made.body["price"].as_str().unwrap(),
            made.body["status"].as_str().unwrap()
        ),
        ("1.2", "OFFERED")
    );
    let offer = made.body["uuid"].as_str().unwrap().to_string();
    // GET /offers?listingUuid=
    let offers = call(
        &app,
        Method::GET,
        &format!("/offers?listingUuid={listing}"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(offers.body["offers"][0]["uuid"], offer.as_str());
    // GET /offers/mine
    let mine = call(&app, Method::GET, "/offers/mine", Some(&mary), None)
        .await
        .expect(200);
    assert_eq!(mine.body["offers"][0]["uuid"], offer.as_str());
    // PATCH /offers/{uuid}
    let edited = call(
        &app,
        Method::PATCH,
        &format!("/offers/{offer}"),
        Some(&mary),
        Some(UPDATE_OFFER.into()),
    )
    .await
    .expect(200);
    assert_eq!(
        (
            edited.body["price"].as_str().unwrap(),
            edited.body["comment"].as_str().unwrap()
        ),
        ("1.15", "My final offer")
    );
    // PATCH offers/{uuid}/accept
    let accepted = call(
        &app,
        Method::PATCH,
        &format!("/offers/{offer}/accept"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(accepted.body["status"], "ACCEPTED");

    // POST /wallets (the collection's address for the payer; another for the payee)
    let w = call(
        &app,
        Method::POST,
        "/wallets",
        Some(&mary),
        Some(CREATE_WALLET.into()),
    )
    .await
    .expect(201);
    assert_eq!(
        w.body["address"],
        "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"
    );
    let zacks = CREATE_WALLET.replace(
        "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421",
        "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF",
    );
    call(&app, Method::POST, "/wallets", Some(&zack), Some(zacks))
        .await
        .expect(201);
    // GET /wallets/mine
    let wallets = call(&app, Method::GET, "/wallets/mine", Some(&mary), None)
        .await
        .expect(200);
    assert_eq!(wallets.body["wallets"][0]["uuid"], w.body["uuid"]);

    // POST /orders (by the payer)
    let order = call(
        &app,
        Method::POST,
        "/orders",
        Some(&mary),
        Some(with(
            CREATE_ORDER,
            "08fef2af-a1ed-465a-b6b3-da53425f83de",
            &offer,
        )),
    )
    .await
    .expect(201);
    assert_eq!(order.body["status"], "AWAITING_PAYMENT");
    assert_eq!(order.body["listingPrice"], "1.15");
    assert_eq!(order.body["totalPlatformFee"], "0.0575");
    assert_eq!(order.body["orderTotal"], "1.2075");
    assert_eq!(
        order.body["payerAddress"],
        "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"
    );
    assert_eq!(
        order.body["payeeAddress"],
        "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF"
    );
    assert_eq!(order.body["escrow"]["amount"], "1207500000000000000");

    // GET /notifications?updatedAtStart=2023-11-10T04:37:50.375Z&limit=10&after=0&updatedAtEnd=2024-02-24T23:37:50.375Z
    // (the collection's window ended in 2024: nothing of this run is in it)
    let old = call(
        &app,
        Method::GET,
        "/notifications?updatedAtStart=2023-11-10T04:37:50.375Z&limit=10&after=0&updatedAtEnd=2024-02-24T23:37:50.375Z",
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(old.body, json!({"notifications": [], "after": null}));
    let received = call(
        &app,
        Method::GET,
        "/notifications?updatedAtStart=2023-11-10T04:37:50.375Z&limit=10&after=0",
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(
        received.body["notifications"][0]["notificationType"],
        "OFFER_RECEIVED"
    );
    let told = call(&app, Method::GET, "/notifications", Some(&mary), None)
        .await
        .expect(200);
    assert_eq!(
        told.body["notifications"][0]["notificationType"],
        "OFFER_ACCEPTED"
    );

    // The collection's other listing (fba47127...): publish, unpublish, cancel, with an
    // offer (50f15b00...) that is cancelled; and the one it deletes (0572f013...).
    let second = call(
        &app,
        Method::POST,
        "/listings",
        Some(&zack),
        Some(CREATE_LISTING.into()),
    )
    .await
    .expect(201);
    let second = second.body["uuid"].as_str().unwrap().to_string();
    call(
        &app,
        Method::PATCH,
        &format!("/listings/{second}/publish"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    let o2 = call(
        &app,
        Method::POST,
        "/offers",
        Some(&mary),
        Some(with(
            CREATE_OFFER,
            "fba47127-5281-48ae-ac95-49606560c0e4",
            &second,
        )),
    )
    .await
    .expect(201);
    let o2 = o2.body["uuid"].as_str().unwrap().to_string();
    let cancelled = call(
        &app,
        Method::PATCH,
        &format!("/offers/{o2}/cancel"),
        Some(&mary),
        None,
    )
    .await
    .expect(200);
    assert_eq!(cancelled.body["status"], "CANCELLED");
    let paused = call(
        &app,
        Method::PATCH,
        &format!("/listings/{second}/unpublish"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(paused.body["status"], "PAUSED");
    let gone = call(
        &app,
        Method::PATCH,
        &format!("/listings/{second}/cancel"),
        Some(&zack),
        None,
    )
    .await
    .expect(200);
    assert_eq!(gone.body["status"], "CANCELLED");
    let third = call(
        &app,
        Method::POST,
        "/listings",
        Some(&zack),
        Some(CREATE_LISTING.into()),
    )
    .await
    .expect(201);
    let third = third.body["uuid"].as_str().unwrap().to_string();
    call(
        &app,
        Method::DELETE,
        &format!("/listings/{third}"),
        Some(&zack),
        None,
    )
    .await
    .expect(204);
    call(
        &app,
        Method::GET,
        &format!("/listings/{third}"),
        Some(&zack),
        None,
    )
    .await
    .expect_error(404);

    // DELETE /wallets/{uuid}
    let wallet = w.body["uuid"].as_str().unwrap();
    call(
        &app,
        Method::DELETE,
        &format!("/wallets/{wallet}"),
        Some(&mary),
        None,
    )
    .await
    .expect(204);
    let wallets = call(&app, Method::GET, "/wallets/mine", Some(&mary), None)
        .await
        .expect(200);
    assert_eq!(wallets.body["wallets"], json!([]));
}

#[actix_web::test]
async fn listing_api_postman_collection_in_gateway_mode_memory() {
    replay(Backend::Memory).await;
}

#[actix_web::test]
async fn listing_api_postman_collection_in_gateway_mode_postgres() {
    replay(Backend::Postgres).await;
}
