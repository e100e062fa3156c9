//! Listings: create and its validation, visibility, edit, lifecycle, delete, search.

use crate::market::{SERVICE_CATEGORY, draft, item_body, item_category, offer, published};
use crate::on_both_stores;
use serde_json::{Value, json};

fn titles(body: &Value) -> Vec<String> {
    body["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap().to_string())
        .collect()
}

on_both_stores! {
    async fn create_answers_the_draft_in_full(app) {
        let alice = app.user("alice").await;
        let body = json!({
            "listingType": "SERVICE_SALE",
            "serviceDelivery": "IN_PERSON",
            "title": "  Painting  ",
            "description": "Fences and walls",
            "price": "1.20",
            "currencyType": "CRYPTO",
            "currency": "ETH",
            "categoryUuid": SERVICE_CATEGORY,
            "additionalFields": {"serviceDate": "2023-12-14T09:30:00+10:00"},
            "location": {"suburb": "Sunnyvale", "state_region": "California", "country": "USA", "postalCode": "94086",
                         "latitude": 37.3688, "longitude": -122.0363}
        });
        let r = app.post("/listings", Some(&alice.token), body).await.expect(201);
        let l = &r.body;
        assert_eq!(l["status"], "DRAFT");
        assert_eq!(l["personUuid"], alice.person_uuid.as_str());
        assert_eq!(l["title"], "Painting", "trimmed");
        assert_eq!(l["price"], "1.2", "normalised");
        assert_eq!(l["listingType"], "SERVICE_SALE");
        assert_eq!(l["serviceDelivery"], "IN_PERSON");
        assert_eq!(l["categoryUuid"], SERVICE_CATEGORY);
        assert_eq!(l["additionalFields"], json!({"serviceDate": "2023-12-13T23:30:00.000Z"}));
        assert_eq!(l["location"]["state_region"], "California");
        assert_eq!(l["location"]["postalCode"], "94086");
        assert_eq!(l["location"]["latitude"], 37.3688);
        assert!(l["location"]["uuid"].is_string());
        assert_eq!(l["createdAt"], l["updatedAt"]);
        let uuid = l["uuid"].as_str().unwrap();
        let again = app.get(&format!("/listings/{uuid}"), Some(&alice.token)).await.expect(200);
        assert_eq!(&again.body, l, "reads back as created");
        // A plain date is kept as a date; location and additional fields are optional.
        let r = app
            .post("/listings", Some(&alice.token), json!({
                "listingType": "SERVICE_PURCHASE", "title": "Clean my house", "description": "Two rooms", "price": "0.0000002",
                "currencyType": "CRYPTO", "currency": "ETH", "categoryUuid": SERVICE_CATEGORY,
                "additionalFields": {"serviceDate": "2023-12-14"}}))
            .await
            .expect(201);
        assert_eq!(r.body["additionalFields"]["serviceDate"], "2023-12-14");
        assert_eq!(r.body["location"], Value::Null);
        assert_eq!(r.body["price"], "0.0000002");
    }

    async fn create_lists_every_problem(app) {
        let alice = app.user("alice").await;
        let r = app.post("/listings", Some(&alice.token), json!({})).await.expect_error(400);
        let problems: Vec<String> = r.body["message"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
        assert_eq!(problems, [
            "listingType should not be empty", "title should not be empty", "description should not be empty",
            "price should not be empty", "currencyType should not be empty", "currency should not be empty",
            "categoryUuid should not be empty",
        ]);
        let r = app
            .post("/listings", Some(&alice.token), json!({
                "listingType": "ITEM", "title": "x", "description": "y", "price": "1e3", "currencyType": "FIAT",
                "currency": "BTC", "categoryUuid": "nope", "serviceDelivery": "TELEPATHY",
                "location": {"suburb": "Ryde", "latitude": 91.0}}))
            .await
            .expect_error(400);
        assert_eq!(r.message(), [
            "listingType must be one of the following values: ITEM_SALE, ITEM_PURCHASE, SERVICE_SALE, SERVICE_PURCHASE",
            "price must be a decimal string with at most 18 decimals",
            "currencyType must be CRYPTO: only crypto currency is supported",
            "currency must be one of the following values: ETH",
            "serviceDelivery must be one of the following values: IN_PERSON, ONLINE",
            "location.state_region should not be empty",
            "location.country should not be empty",
            "location.latitude must be between -90 and 90",
            "categoryUuid must be a UUID",
        ].join("; "));
    }

    async fn create_checks_prices_categories_and_type_specific_fields(app) {
        let alice = app.user("alice").await;
        let bad = |extra: Value| {
            let app = &app;
            let alice = &alice;
            async move {
                let body = item_body(app, alice, extra).await;
                app.post("/listings", Some(&alice.token), body).await.expect_error(400).message()
            }
        };
        assert_eq!(bad(json!({"price": "0.1234567890123456789"})).await, "price must be a decimal string with at most 18 decimals");
        assert_eq!(bad(json!({"price": "0"})).await, "price must be greater than 0");
        assert_eq!(bad(json!({"price": "-1"})).await, "price must be a decimal string with at most 18 decimals");
        assert_eq!(bad(json!({"price": "9".repeat(30)})).await, "price must be at most 1000000000 ETH");
        // A JSON number is refused outright: money never passes through a float.
        let body = item_body(&app, &alice, json!({"price": 1.2})).await;
        let r = app.post("/listings", Some(&alice.token), body).await.expect_error(400);
        assert!(r.message().contains("expected a string"), "{}", r.message());
        assert_eq!(bad(json!({"categoryUuid": uuid::Uuid::new_v4().to_string()})).await, "categoryUuid must name an existing category");
        assert_eq!(bad(json!({"categoryUuid": SERVICE_CATEGORY})).await, "categoryUuid must name a category of type ITEM for listingType ITEM_SALE");
        let item = item_category(&app, &alice).await;
        assert_eq!(
            bad(json!({"listingType": "SERVICE_SALE", "categoryUuid": item, "additionalFields": {}})).await,
            "categoryUuid must name a category of type SERVICE for listingType SERVICE_SALE"
        );
        assert_eq!(bad(json!({"serviceDelivery": "ONLINE"})).await, "serviceDelivery applies only to SERVICE listings");
        assert_eq!(bad(json!({"additionalFields": {"serviceDate": "2023-12-14"}})).await, "additionalFields.serviceDate applies only to SERVICE listings");
        assert_eq!(
            bad(json!({"listingType": "SERVICE_SALE", "categoryUuid": SERVICE_CATEGORY, "additionalFields": {"condition": "New"}})).await,
            "additionalFields.condition applies only to ITEM listings"
        );
        assert_eq!(
            bad(json!({"listingType": "SERVICE_SALE", "categoryUuid": SERVICE_CATEGORY, "additionalFields": {"serviceDate": "14/12/2023"}})).await,
            "additionalFields.serviceDate must be an ISO 8601 date or date-time"
        );
        let unknown = bad(json!({"status": "PUBLISHED"})).await;
        assert!(unknown.contains("unknown field `status`"), "{unknown}");
        let unknown = bad(json!({"location": {"suburb": "a", "state_region": "b", "country": "c", "planet": "Mars"}})).await;
        assert!(unknown.contains("unknown field `planet`"), "{unknown}");
        app.post("/listings", None, json!({})).await.expect_error(401);
    }

    async fn drafts_are_their_owners_alone(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let d = draft(&app, &alice, json!({})).await;
        app.get(&format!("/listings/{d}"), Some(&alice.token)).await.expect(200);
        let r = app.get(&format!("/listings/{d}"), Some(&bob.token)).await.expect_error(404);
        assert_eq!(r.message(), "Listing not found");
        // Changing it is 404 too: it does not exist for bob.
        app.patch(&format!("/listings/{d}"), Some(&bob.token), json!({"title": "mine"})).await.expect_error(404);
        app.patch_empty(&format!("/listings/{d}/publish"), Some(&bob.token)).await.expect_error(404);
        app.delete(&format!("/listings/{d}"), Some(&bob.token)).await.expect_error(404);
        // Published, everyone sees it, but only the owner changes it (403).
        app.patch_empty(&format!("/listings/{d}/publish"), Some(&alice.token)).await.expect(200);
        app.get(&format!("/listings/{d}"), Some(&bob.token)).await.expect(200);
        let r = app.patch(&format!("/listings/{d}"), Some(&bob.token), json!({"title": "mine"})).await.expect_error(403);
        assert_eq!(r.message(), "Only the owner can edit a listing");
        let r = app.patch_empty(&format!("/listings/{d}/unpublish"), Some(&bob.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the owner can unpublish a listing");
        app.patch_empty(&format!("/listings/{d}/cancel"), Some(&bob.token)).await.expect_error(403);
        app.delete(&format!("/listings/{d}"), Some(&bob.token)).await.expect_error(403);
        app.get("/listings/not-a-uuid", Some(&bob.token)).await.expect_error(400);
        app.get(&format!("/listings/{}", uuid::Uuid::new_v4()), Some(&bob.token)).await.expect_error(404);
        app.get(&format!("/listings/{d}"), None).await.expect_error(401);
    }

    async fn edit_changes_only_editable_fields_in_editable_states(app) {
        let alice = app.user("alice").await;
        let l = draft(&app, &alice, json!({})).await;
        let before = app.get(&format!("/listings/{l}"), Some(&alice.token)).await.body;
        // Timestamps have millisecond resolution: the edit must land in a later one for
        // `updatedAt` to show that it moved (a fast engine creates and edits in one).
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let r = app
            .patch(&format!("/listings/{l}"), Some(&alice.token), json!({
                "title": "Painting fence", "price": "2.50", "additionalFields": {"condition": "As new"},
                "location": {"suburb": "North Ryde", "state_region": "NSW", "country": "Australia"}}))
            .await
            .expect(200);
        assert_eq!(r.body["title"], "Painting fence");
        assert_eq!(r.body["price"], "2.5");
        assert_eq!(r.body["description"], before["description"], "untouched");
        assert_eq!(r.body["additionalFields"], json!({"condition": "As new"}));
        assert_eq!(r.body["location"]["suburb"], "North Ryde");
        assert_eq!(r.body["location"]["uuid"], before["location"]["uuid"], "the same location, moved");
        assert_ne!(r.body["updatedAt"], before["updatedAt"]);
        assert_eq!(&app.get(&format!("/listings/{l}"), Some(&alice.token)).await.body, &r.body);
        let r = app.patch(&format!("/listings/{l}"), Some(&alice.token), json!({"location": null})).await.expect(200);
        assert_eq!(r.body["location"], Value::Null);
        // Not editable: other fields, bad values.
        for body in [json!({"categoryUuid": SERVICE_CATEGORY}), json!({"status": "PUBLISHED"}), json!({"listingType": "ITEM_PURCHASE"})] {
            let r = app.patch(&format!("/listings/{l}"), Some(&alice.token), body).await.expect_error(400);
            assert!(r.message().contains("unknown field"), "{}", r.message());
        }
        let r = app
            .patch(&format!("/listings/{l}"), Some(&alice.token), json!({"title": " ", "price": "0", "additionalFields": {"serviceDate": "2024-01-01"}}))
            .await
            .expect_error(400);
        assert_eq!(r.message(), "title should not be empty; price must be greater than 0; additionalFields.serviceDate applies only to SERVICE listings");
        // Editable while PUBLISHED and PAUSED; not once CANCELLED.
        app.patch_empty(&format!("/listings/{l}/publish"), Some(&alice.token)).await.expect(200);
        app.patch(&format!("/listings/{l}"), Some(&alice.token), json!({"title": "a"})).await.expect(200);
        app.patch_empty(&format!("/listings/{l}/unpublish"), Some(&alice.token)).await.expect(200);
        let r = app.patch(&format!("/listings/{l}"), Some(&alice.token), json!({"title": "b"})).await.expect(200);
        assert_eq!(r.body["status"], "PAUSED");
        app.patch_empty(&format!("/listings/{l}/cancel"), Some(&alice.token)).await.expect(200);
        let r = app.patch(&format!("/listings/{l}"), Some(&alice.token), json!({"title": "c"})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot edit a listing that is CANCELLED");
    }

    async fn lifecycle_through_the_api(app) {
        let alice = app.user("alice").await;
        let l = draft(&app, &alice, json!({})).await;
        let step = |action: &'static str| {
            let (app, alice, l) = (&app, &alice, l.clone());
            async move { app.patch_empty(&format!("/listings/{l}/{action}"), Some(&alice.token)).await }
        };
        let r = step("unpublish").await.expect_error(409);
        assert_eq!(r.message(), "Cannot unpublish a listing that is DRAFT");
        assert_eq!(step("publish").await.expect(200).body["status"], "PUBLISHED");
        assert_eq!(step("publish").await.expect_error(409).message(), "Cannot publish a listing that is PUBLISHED");
        assert_eq!(step("unpublish").await.expect(200).body["status"], "PAUSED");
        assert_eq!(step("unpublish").await.expect_error(409).message(), "Cannot unpublish a listing that is PAUSED");
        assert_eq!(step("publish").await.expect(200).body["status"], "PUBLISHED");
        assert_eq!(step("cancel").await.expect(200).body["status"], "CANCELLED");
        for action in ["publish", "unpublish", "cancel"] {
            let r = step(action).await.expect_error(409);
            assert_eq!(r.message(), format!("Cannot {action} a listing that is CANCELLED"));
        }
        // A draft can be cancelled directly, and a paused listing too.
        let d = draft(&app, &alice, json!({})).await;
        app.patch_empty(&format!("/listings/{d}/cancel"), Some(&alice.token)).await.expect(200);
        app.patch_empty(&format!("/listings/{}/publish", uuid::Uuid::new_v4()), Some(&alice.token)).await.expect_error(404);
        app.patch_empty("/listings/nope/publish", Some(&alice.token)).await.expect_error(400);
    }

    async fn cancelling_a_listing_cancels_its_open_offers(app) {
        let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
        let l = published(&app, &alice, json!({})).await;
        let b = offer(&app, &bob, &l, "0.1").await;
        let c = offer(&app, &carol, &l, "0.2").await;
        app.patch_empty(&format!("/offers/{c}/accept"), Some(&alice.token)).await.expect(200);
        app.patch_empty(&format!("/listings/{l}/cancel"), Some(&alice.token)).await.expect(200);
        let offers = app.get(&format!("/offers?listingUuid={l}"), Some(&alice.token)).await.expect(200);
        let statuses: Vec<_> = offers.body["offers"].as_array().unwrap().iter().map(|o| o["status"].clone()).collect();
        assert_eq!(statuses, ["CANCELLED", "CANCELLED"]);
        let mine = app.get("/offers/mine", Some(&bob.token)).await.expect(200);
        assert_eq!(mine.body["offers"][0]["uuid"], b.as_str());
        assert_eq!(mine.body["offers"][0]["status"], "CANCELLED");
    }

    async fn delete_takes_the_listing_and_its_offers(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let l = published(&app, &alice, json!({})).await;
        offer(&app, &bob, &l, "0.1").await;
        let r = app.delete(&format!("/listings/{l}"), Some(&alice.token)).await.expect(204);
        assert!(r.text.is_empty());
        app.get(&format!("/listings/{l}"), Some(&alice.token)).await.expect_error(404);
        app.delete(&format!("/listings/{l}"), Some(&alice.token)).await.expect_error(404);
        let mine = app.get("/offers/mine", Some(&bob.token)).await.expect(200);
        assert_eq!(mine.body["offers"], json!([]));
    }

    async fn search_shows_published_listings_with_filters(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        published(&app, &alice, json!({"listingType": "SERVICE_SALE", "categoryUuid": SERVICE_CATEGORY, "title": "Painting fences",
                                       "description": "Any colour", "additionalFields": {}})).await;
        published(&app, &alice, json!({"title": "Old fridge"})).await;
        draft(&app, &alice, json!({"title": "Draft fridge"})).await;
        let paused = published(&app, &bob, json!({"title": "Paused fridge"})).await;
        app.patch_empty(&format!("/listings/{paused}/unpublish"), Some(&bob.token)).await.expect(200);
        published(&app, &bob, json!({"listingType": "ITEM_PURCHASE", "title": "Wanted: a cot", "description": "Painted white, for the baby"})).await;

        let get = |path: String| {
            let (app, bob) = (&app, &bob);
            async move { app.get(&path, Some(&bob.token)).await.expect(200).body }
        };
        assert_eq!(titles(&get("/listings".into()).await), ["Wanted: a cot", "Old fridge", "Painting fences"]);
        assert_eq!(titles(&get("/listings?q=paint".into()).await), ["Wanted: a cot", "Painting fences"]);
        assert_eq!(titles(&get("/listings?q=painted%20fence".into()).await), ["Painting fences"]);
        assert_eq!(titles(&get("/listings?q=cot%20or%20fridges".into()).await), ["Wanted: a cot", "Old fridge"]);
        assert_eq!(titles(&get("/listings?q=paint%20-baby".into()).await), ["Painting fences"]);
        assert_eq!(titles(&get("/listings?q=the".into()).await), Vec::<String>::new());
        assert_eq!(titles(&get("/listings?listingType=ITEM_SALE&listingType=ITEM_PURCHASE".into()).await), ["Wanted: a cot", "Old fridge"]);
        assert_eq!(titles(&get("/listings?listingType=SERVICE_SALE".into()).await), ["Painting fences"]);
        assert_eq!(titles(&get(format!("/listings?personUuid={}", alice.person_uuid)).await), ["Old fridge", "Painting fences"]);
        assert_eq!(titles(&get("/listings?updatedAtStart=2999-01-01".into()).await), Vec::<String>::new());
        assert_eq!(titles(&get("/listings?updatedAtStart=2023-11-10T04:37:50.375Z&updatedAtEnd=2999-01-01T00:00:00Z".into()).await).len(), 3);
        // Paging: limit and the cursor.
        let first = get("/listings?limit=2".into()).await;
        assert_eq!(titles(&first), ["Wanted: a cot", "Old fridge"]);
        let after = first["after"].as_i64().expect("a cursor");
        let rest = get(format!("/listings?limit=2&after={after}")).await;
        assert_eq!(titles(&rest), ["Painting fences"]);
        assert_eq!(rest["after"], Value::Null);
        for first_page in ["-1", "0"] {
            assert_eq!(titles(&get(format!("/listings?limit=1&after={first_page}")).await), ["Wanted: a cot"]);
        }
        // Bad filters: every problem named.
        let r = app
            .get("/listings?listingType=CARS&personUuid=x&updatedAtStart=yesterday&limit=1000", Some(&bob.token))
            .await
            .expect_error(400);
        assert_eq!(r.message(), "limit must be an integer from 1 to 100");
        let r = app.get("/listings?listingType=CARS&personUuid=x&updatedAtEnd=yesterday", Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.message(), [
            "listingType must be one of the following values: ITEM_SALE, ITEM_PURCHASE, SERVICE_SALE, SERVICE_PURCHASE",
            "personUuid must be a UUID",
            "updatedAtEnd must be an ISO 8601 date or date-time",
        ].join("; "));
        app.get("/listings", None).await.expect_error(401);
    }

    async fn mine_shows_every_status(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let cancelled = published(&app, &alice, json!({"title": "Cancelled bike"})).await;
        app.patch_empty(&format!("/listings/{cancelled}/cancel"), Some(&alice.token)).await.expect(200);
        draft(&app, &alice, json!({"title": "Draft fridge"})).await;
        published(&app, &alice, json!({"title": "Published cot", "listingType": "ITEM_PURCHASE"})).await;
        published(&app, &bob, json!({"title": "Bob's"})).await;
        let r = app.get("/listings/mine", Some(&alice.token)).await.expect(200);
        assert_eq!(titles(&r.body), ["Published cot", "Draft fridge", "Cancelled bike"]);
        let statuses: Vec<_> = r.body["listings"].as_array().unwrap().iter().map(|l| l["status"].clone()).collect();
        assert_eq!(statuses, ["PUBLISHED", "DRAFT", "CANCELLED"]);
        let r = app.get("/listings/mine?q=fridge&listingType=ITEM_SALE", Some(&alice.token)).await.expect(200);
        assert_eq!(titles(&r.body), ["Draft fridge"]);
        // personUuid is ignored: mine are mine.
        let r = app.get(&format!("/listings/mine?personUuid={}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert_eq!(titles(&r.body).len(), 3);
        let r = app.get("/listings/mine?limit=1", Some(&alice.token)).await.expect(200);
        assert_eq!(titles(&r.body), ["Published cot"]);
        assert!(r.body["after"].is_i64());
    }
}
