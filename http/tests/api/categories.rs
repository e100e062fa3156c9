//! `GET /categories`.

use crate::market::SERVICE_CATEGORY;
use crate::on_both_stores;

on_both_stores! {
    async fn categories_by_type(app) {
        let alice = app.user("alice").await;
        let all = app.get("/categories", Some(&alice.token)).await.expect(200);
        let list = all.body["categories"].as_array().unwrap();
        assert_eq!(list.len(), 32);
        assert_eq!(all.body["after"], serde_json::Value::Null);
        let services = app.get("/categories?categoryType=SERVICE", Some(&alice.token)).await.expect(200);
        let services = services.body["categories"].as_array().unwrap().clone();
        assert!(services.iter().all(|c| c["categoryType"] == "SERVICE"));
        let postman = services.iter().find(|c| c["uuid"] == SERVICE_CATEGORY).expect("the Postman requests' category");
        assert_eq!(postman["name"], "Home Improvement");
        assert_eq!(postman["createdAt"], "2024-01-01T00:00:00.000Z");
        let items = app.get("/categories?categoryType=ITEM", Some(&alice.token)).await.expect(200);
        let items = items.body["categories"].as_array().unwrap().clone();
        assert!(items.iter().all(|c| c["categoryType"] == "ITEM"));
        assert_eq!(items.len() + services.len(), list.len());
        assert_eq!(items[0]["name"], "Electronics", "seed order");

        let bad = app.get("/categories?categoryType=FOOD", Some(&alice.token)).await.expect_error(400);
        assert_eq!(bad.message(), "categoryType must be one of the following values: ITEM, SERVICE");
        app.get("/categories", None).await.expect_error(401);
    }
}
