//! Experiences and reactions: posting, filters, deleting with what hangs on it, likes
//! that are idempotent, comments that need content, and who may delete what.

use crate::connections::connect;
use crate::harness::{Resp, TestApp, TestUser};
use crate::on_both_stores;
use serde_json::{Value, json};
use std::time::Duration;

pub async fn post_experience(
    app: &TestApp,
    who: &TestUser,
    content: &str,
    visibility: &str,
) -> Resp {
    app.post(
        "/experiences",
        Some(&who.token),
        json!({"content": content, "visibility": visibility}),
    )
    .await
    .expect(201)
}

pub async fn react(app: &TestApp, who: &TestUser, experience: &str, body: Value) -> Resp {
    app.post(
        &format!("/experiences/{experience}/experience_reactions"),
        Some(&who.token),
        body,
    )
    .await
}

fn contents(body: &Value) -> Vec<String> {
    body["experiences"]
        .as_array()
        .unwrap_or_else(|| panic!("experiences is a list: {body}"))
        .iter()
        .map(|e| e["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn reaction_contents(body: &Value) -> Vec<String> {
    body["experienceReactions"]
        .as_array()
        .unwrap_or_else(|| panic!("experienceReactions is a list: {body}"))
        .iter()
        .map(|r| r["content"].as_str().unwrap_or("LIKE").to_string())
        .collect()
}

fn uuid_of(r: &Resp) -> String {
    r.body["uuid"].as_str().expect("uuid").to_string()
}

on_both_stores! {
    async fn post_and_read_an_experience(app) {
        let alice = app.user("alice").await;
        let r = post_experience(&app, &alice, "  My second post ", "CONTACT_ONLY").await;
        assert_eq!(r.body["content"], "My second post");
        assert_eq!(r.body["visibility"], "CONTACT_ONLY");
        assert_eq!(r.body["personUuid"], alice.person_uuid.as_str());
        let created = r.body["createdAt"].as_str().unwrap();
        assert!(created.ends_with('Z') && created.len() == 24, "{created}");
        assert_eq!(r.body["updatedAt"], r.body["createdAt"]);
        let uuid = uuid_of(&r);
        let got = app.get(&format!("/experiences/{uuid}"), Some(&alice.token)).await.expect(200);
        assert_eq!(got.body, r.body);

        let bad = app.post("/experiences", Some(&alice.token), json!({})).await.expect_error(400);
        assert_eq!(
            bad.body["message"],
            json!(["content must not be empty", "visibility must be one of the following values: PUBLIC, CONTACT_ONLY"])
        );
        let bad = app.post("/experiences", Some(&alice.token), json!({"content": "x", "visibility": "FRIENDS"})).await.expect_error(400);
        assert_eq!(bad.message(), "visibility must be one of the following values: PUBLIC, CONTACT_ONLY");
        let bad = app.post("/experiences", Some(&alice.token), json!({"content": "x".repeat(5001), "visibility": "PUBLIC"})).await.expect_error(400);
        assert_eq!(bad.message(), "content must be at most 5000 characters");
        app.post("/experiences", Some(&alice.token), json!({"content": 5, "visibility": "PUBLIC"})).await.expect_error(400);
        app.post("/experiences", None, json!({"content": "x", "visibility": "PUBLIC"})).await.expect_error(401);
        app.get(&format!("/experiences/{}", uuid::Uuid::new_v4()), Some(&alice.token)).await.expect_error(404);
        let r = app.get("/experiences/nope", Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.message(), "uuid must be a UUID");
        let list = app.get("/experiences", Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&list.body), ["My second post"], "refused posts stored nothing");
    }

    async fn list_filters_by_poster_and_creation_time(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let mut created = Vec::new();
        for (who, text) in [(&alice, "a1"), (&bob, "b1"), (&alice, "a2"), (&bob, "b2")] {
            let r = post_experience(&app, who, text, "PUBLIC").await;
            created.push(r.body["createdAt"].as_str().unwrap().to_string());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all = app.get("/experiences", Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&all.body), ["b2", "a2", "b1", "a1"], "newest first");
        let mine = app.get(&format!("/experiences?personUuid={}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&mine.body), ["b2", "b1"]);
        let window = app.get(&format!("/experiences?createdAtStart={}&createdAtEnd={}", created[1], created[2]), Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&window.body), ["a2", "b1"], "both bounds inclusive");
        let since = app.get(&format!("/experiences?createdAtStart={}&personUuid={}", created[1], alice.person_uuid), Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&since.body), ["a2"]);
        let day = &created[0][..10];
        let r = app.get(&format!("/experiences?createdAtStart={day}"), Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&r.body).len(), 4, "a plain date is midnight UTC");
        let nobody = app.get(&format!("/experiences?personUuid={}", uuid::Uuid::new_v4()), Some(&alice.token)).await.expect(200);
        assert!(contents(&nobody.body).is_empty());

        let r = app.get("/experiences?createdAtStart=yesterday&personUuid=bob", Some(&alice.token)).await.expect_error(400);
        assert_eq!(
            r.body["message"],
            json!(["createdAtStart must be an ISO 8601 date or date-time", "personUuid must be a UUID"])
        );
        let r = app.get(&format!("/experiences?createdAtStart={}&createdAtEnd={}", created[2], created[1]), Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.message(), "createdAtStart must not be after createdAtEnd");
    }

    async fn only_the_poster_deletes_and_reactions_go_with_it(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        connect(&app, &alice, &bob).await;
        let private = uuid_of(&post_experience(&app, &alice, "for contacts", "CONTACT_ONLY").await);
        let public = uuid_of(&post_experience(&app, &alice, "for all", "PUBLIC").await);
        let comment = react(&app, &bob, &private, json!({"reactionType": "COMMENT", "content": "nice"})).await.expect(201);

        let r = app.delete(&format!("/experiences/{private}"), Some(&bob.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the poster may delete an experience");
        let r = app.delete(&format!("/experiences/{private}"), Some(&carol.token)).await.expect_error(404);
        assert_eq!(r.message(), "Experience not found", "a stranger may not know it exists");
        app.delete(&format!("/experiences/{public}"), Some(&carol.token)).await.expect_error(403);
        app.delete(&format!("/experiences/{private}"), None).await.expect_error(401);
        app.get(&format!("/experiences/{private}"), Some(&bob.token)).await.expect(200);

        let r = app.delete(&format!("/experiences/{private}"), Some(&alice.token)).await.expect(204);
        assert!(r.text.is_empty());
        app.get(&format!("/experiences/{private}"), Some(&alice.token)).await.expect_error(404);
        app.get(&format!("/experiences/{private}/experience_reactions"), Some(&bob.token)).await.expect_error(404);
        app.delete(&format!("/experiences/{private}/experience_reactions/{}", uuid_of(&comment)), Some(&bob.token)).await.expect_error(404);
        app.delete(&format!("/experiences/{private}"), Some(&alice.token)).await.expect_error(404);
        let list = app.get("/experiences", Some(&alice.token)).await.expect(200);
        assert_eq!(contents(&list.body), ["for all"]);
    }

    async fn likes_are_idempotent_and_comments_need_content(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        connect(&app, &alice, &bob).await;
        let e = uuid_of(&post_experience(&app, &alice, "post", "CONTACT_ONLY").await);
        let first = react(&app, &bob, &e, json!({"reactionType": "LIKE"})).await.expect(201);
        assert_eq!(first.body["reactionType"], "LIKE");
        assert!(first.body["content"].is_null());
        assert_eq!(first.body["experienceUuid"], e.as_str());
        assert_eq!(first.body["personUuid"], bob.person_uuid.as_str());
        let again = react(&app, &bob, &e, json!({"reactionType": "LIKE"})).await.expect(200);
        assert_eq!(again.body, first.body, "the existing like, unchanged");
        react(&app, &alice, &e, json!({"reactionType": "LIKE"})).await.expect(201);

        let c1 = react(&app, &bob, &e, json!({"reactionType": "COMMENT", "content": " Clay 2 "})).await.expect(201);
        assert_eq!(c1.body["content"], "Clay 2");
        react(&app, &bob, &e, json!({"reactionType": "COMMENT", "content": "Clay 2"})).await.expect(201);

        let r = react(&app, &bob, &e, json!({"reactionType": "COMMENT"})).await.expect_error(400);
        assert_eq!(r.message(), "content must not be empty for a COMMENT");
        let r = react(&app, &bob, &e, json!({"reactionType": "COMMENT", "content": "x".repeat(2001)})).await.expect_error(400);
        assert_eq!(r.message(), "content must be at most 2000 characters");
        let r = react(&app, &bob, &e, json!({"reactionType": "LIKE", "content": "yay"})).await.expect_error(400);
        assert_eq!(r.message(), "content must be empty for a LIKE");
        let r = react(&app, &bob, &e, json!({"reactionType": "LOVE"})).await.expect_error(400);
        assert_eq!(r.message(), "reactionType must be one of the following values: COMMENT, LIKE");
        react(&app, &bob, &e, json!({})).await.expect_error(400);
        let r = react(&app, &bob, "nope", json!({"reactionType": "LIKE"})).await.expect_error(400);
        assert_eq!(r.message(), "experienceUuid must be a UUID");
        react(&app, &bob, &uuid::Uuid::new_v4().to_string(), json!({"reactionType": "LIKE"})).await.expect_error(404);

        let all = app.get(&format!("/experiences/{e}/experience_reactions"), Some(&alice.token)).await.expect(200);
        assert_eq!(reaction_contents(&all.body), ["Clay 2", "Clay 2", "LIKE", "LIKE"], "one like each, newest first");
        assert!(all.body["after"].is_null());
    }

    async fn reactions_visible_to_owner_all_to_others_own_and_contacts(app) {
        let owner = app.user("owner").await;
        let friend = app.user("friend").await; // contact of owner and of viewer
        let viewer = app.user("viewer").await; // contact of owner
        let outsider = app.user("outsider").await; // nobody's contact
        connect(&app, &owner, &friend).await;
        connect(&app, &owner, &viewer).await;
        connect(&app, &viewer, &friend).await;
        let e = uuid_of(&post_experience(&app, &owner, "public post", "PUBLIC").await);
        for (who, text) in [(&friend, "from friend"), (&viewer, "from viewer"), (&outsider, "from outsider"), (&owner, "from owner")] {
            react(&app, who, &e, json!({"reactionType": "COMMENT", "content": text})).await.expect(201);
        }
        let seen = |who: &TestUser| {
            let path = format!("/experiences/{e}/experience_reactions");
            let token = who.token.clone();
            let app = &app;
            async move { reaction_contents(&app.get(&path, Some(&token)).await.expect(200).body) }
        };
        assert_eq!(seen(&owner).await, ["from owner", "from outsider", "from viewer", "from friend"], "the owner sees all");
        assert_eq!(seen(&viewer).await, ["from owner", "from viewer", "from friend"], "own and contacts'");
        assert_eq!(seen(&outsider).await, ["from outsider"], "own only");
        assert_eq!(seen(&friend).await, ["from owner", "from viewer", "from friend"]);

        let p1 = app.get(&format!("/experiences/{e}/experience_reactions?limit=2&after=-1"), Some(&owner.token)).await.expect(200);
        assert_eq!(reaction_contents(&p1.body), ["from owner", "from outsider"]);
        let after = p1.body["after"].as_i64().expect("next page");
        let p2 = app.get(&format!("/experiences/{e}/experience_reactions?limit=2&after={after}"), Some(&owner.token)).await.expect(200);
        assert_eq!(reaction_contents(&p2.body), ["from viewer", "from friend"]);
        assert!(p2.body["after"].is_null());
    }

    async fn only_the_author_deletes_a_reaction(app) {
        let owner = app.user("owner").await;
        let friend = app.user("friend").await;
        let outsider = app.user("outsider").await;
        connect(&app, &owner, &friend).await;
        let e = uuid_of(&post_experience(&app, &owner, "public post", "PUBLIC").await);
        let other = uuid_of(&post_experience(&app, &owner, "another", "PUBLIC").await);
        let like = uuid_of(&react(&app, &friend, &e, json!({"reactionType": "LIKE"})).await.expect(201));
        let path = format!("/experiences/{e}/experience_reactions/{like}");

        let r = app.delete(&path, Some(&owner.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the author may delete a reaction", "even the experience's owner");
        let r = app.delete(&path, Some(&outsider.token)).await.expect_error(404);
        assert_eq!(r.message(), "Reaction not found", "the outsider cannot see a stranger's reaction");
        let r = app.delete(&format!("/experiences/{other}/experience_reactions/{like}"), Some(&friend.token)).await.expect_error(404);
        assert_eq!(r.message(), "Reaction not found", "the reaction belongs to another experience");
        app.delete(&format!("/experiences/{e}/experience_reactions/{}", uuid::Uuid::new_v4()), Some(&friend.token)).await.expect_error(404);
        let r = app.delete(&format!("/experiences/{e}/experience_reactions/nope"), Some(&friend.token)).await.expect_error(400);
        assert_eq!(r.message(), "uuid must be a UUID");
        app.delete(&path, None).await.expect_error(401);

        app.delete(&path, Some(&friend.token)).await.expect(204);
        app.delete(&path, Some(&friend.token)).await.expect_error(404);
        let r = app.get(&format!("/experiences/{e}/experience_reactions"), Some(&owner.token)).await.expect(200);
        assert!(reaction_contents(&r.body).is_empty());
        // Once the like is gone, liking again makes a new one.
        let again = react(&app, &friend, &e, json!({"reactionType": "LIKE"})).await.expect(201);
        assert_ne!(uuid_of(&again), like);
    }
}
