//! The visibility matrix: every object type of the social graph, seen by its owner, by a
//! contact of the owner and by a stranger, on both stores. Each cell is one request with
//! one expected answer, so any rule that breaks names itself.

use crate::connections::{connect, request};
use crate::experiences::{post_experience, react};
use crate::harness::{TestApp, TestUser};
use crate::on_both_stores;
use serde_json::{Value, json};

/// The three viewers of the matrix.
struct Viewers {
    owner: TestUser,
    contact: TestUser,
    stranger: TestUser,
}

impl Viewers {
    fn each(&self) -> [(&'static str, &TestUser); 3] {
        [
            ("owner", &self.owner),
            ("contact", &self.contact),
            ("stranger", &self.stranger),
        ]
    }
}

fn uuids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {body}"))
        .iter()
        .map(|x| x["uuid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// One row of the matrix: `$call` (using `$u`, the viewer) answers `owner`, `contact`,
/// `stranger` with these statuses, in the error envelope when >= 400.
macro_rules! cells {
    ($v:expr, $what:expr, [$($status:expr),+], |$u:ident| $call:expr) => {{
        let expected: [u16; 3] = [$($status),+];
        for ((who, $u), status) in $v.each().into_iter().zip(expected) {
            let r = $call;
            assert_eq!(r.status, status, "{} as {}: {}", $what, who, r.text);
            if status >= 400 {
                assert_eq!(r.body["statusCode"], status, "{} as {}: envelope", $what, who);
            }
        }
    }};
}

/// Whether each viewer finds `uuid` in the list at `path` (under `key`).
async fn listed(app: &TestApp, v: &Viewers, path: &str, key: &str, uuid: &str) -> [bool; 3] {
    let mut out = [false; 3];
    for (i, (_, user)) in v.each().into_iter().enumerate() {
        let r = app.get(path, Some(&user.token)).await.expect(200);
        out[i] = uuids(&r.body, key).iter().any(|u| u == uuid);
    }
    out
}

on_both_stores! {
    async fn owner_contact_stranger_matrix(app) {
        let owner = app.user_with(json!({"username": "owner", "email": "owner@example.com", "contactNumber": "+61 400 000 001", "birthDate": "1990-01-02"})).await;
        let contact = app.user("contact").await;
        let stranger = app.user("stranger").await;
        let target = app.user("target").await; // on the other end of the owner's request
        let poster = app.user("poster").await; // someone else's experience to react on
        connect(&app, &owner, &contact).await;
        let v = Viewers { owner, contact, stranger };

        // --- person: private fields for self and contacts only --------------------
        let path = format!("/people/{}", v.owner.person_uuid);
        for (who, user) in v.each() {
            let r = app.get(&path, Some(&user.token)).await.expect(200);
            let private = who != "stranger";
            assert_eq!(r.body.get("email").is_some(), private, "person email as {who}: {}", r.text);
            assert_eq!(r.body.get("contactNumber").is_some(), private, "person contactNumber as {who}");
            assert_eq!(r.body.get("birthDate").is_some(), private, "person birthDate as {who}");
            assert_eq!(r.body.get("accountUuid").is_some(), who == "owner", "person accountUuid as {who}");
        }

        // --- contact: listed (with private fields) for the contact only ------------
        for (who, user) in v.each() {
            let r = app.get("/connections/contacts?limit=100", Some(&user.token)).await.expect(200);
            let listed = r.body["contacts"].as_array().unwrap().iter().find(|p| p["uuid"] == v.owner.person_uuid.as_str()).cloned();
            match who {
                "owner" => assert!(listed.is_none(), "not one's own contact"),
                "contact" => assert_eq!(listed.expect("owner listed for contact")["email"], "owner@example.com"),
                _ => assert!(listed.is_none(), "owner listed for a stranger"),
            }
        }

        // --- connection (owner -> target, PENDING) --------------------------------
        let pending = request(&app, &v.owner, &target).await.expect(201);
        let connection = pending.body["uuid"].as_str().unwrap().to_string();
        assert_eq!(listed(&app, &v, "/connections?limit=100", "connections", &connection).await, [true, false, false], "connection listed");
        let accept = format!("/connections/{connection}/accept");
        let reject = format!("/connections/{connection}/reject");
        cells!(v, "accept the owner's request", [403, 404, 404], |u| app.patch_empty(&accept, Some(&u.token)).await);
        cells!(v, "reject the owner's request", [403, 404, 404], |u| app.patch_empty(&reject, Some(&u.token)).await);
        let remove = format!("/connections/contacts/{}", target.person_uuid);
        cells!(v, "remove a pending target as contact", [404, 404, 404], |u| app.delete(&remove, Some(&u.token)).await);
        let r = app.get("/connections?status=PENDING", Some(&target.token)).await.expect(200);
        assert_eq!(uuids(&r.body, "connections"), std::slice::from_ref(&connection), "still pending for the target");

        // --- experiences: PUBLIC and CONTACT_ONLY ---------------------------------
        let public = post_experience(&app, &v.owner, "public", "PUBLIC").await.body["uuid"].as_str().unwrap().to_string();
        let private = post_experience(&app, &v.owner, "private", "CONTACT_ONLY").await.body["uuid"].as_str().unwrap().to_string();
        let by_owner = format!("/experiences?limit=100&personUuid={}", v.owner.person_uuid);
        for (experience, seen) in [(&public, [true, true, true]), (&private, [true, true, false])] {
            let what = if experience == &public { "PUBLIC" } else { "CONTACT_ONLY" };
            let get = format!("/experiences/{experience}");
            let reactions = format!("/experiences/{experience}/experience_reactions");
            let ok_or_404 = |ok: u16| seen.map(|s| if s { ok } else { 404 });
            assert_eq!(listed(&app, &v, "/experiences?limit=100", "experiences", experience).await, seen, "{what} in the feed");
            assert_eq!(listed(&app, &v, &by_owner, "experiences", experience).await, seen, "{what} by personUuid");
            let [a, b, c] = ok_or_404(200);
            cells!(v, format!("GET {what} experience"), [a, b, c], |u| app.get(&get, Some(&u.token)).await);
            cells!(v, format!("GET {what} reactions"), [a, b, c], |u| app.get(&reactions, Some(&u.token)).await);
            let [a, b, c] = ok_or_404(201);
            cells!(v, format!("LIKE {what}"), [a, b, c], |u| react(&app, u, experience, json!({"reactionType": "LIKE"})).await);
            // Deleting: 403 for those who see it, 404 for those who do not (the owner last).
            let [_, b, c] = ok_or_404(403);
            for ((who, user), status) in v.each().into_iter().skip(1).zip([b, c]) {
                let r = app.delete(&get, Some(&user.token)).await;
                assert_eq!(r.status, status, "DELETE {what} as {who}: {}", r.text);
            }
        }

        // --- reactions: the owner's own reaction (on someone else's public post) ----
        let elsewhere = post_experience(&app, &poster, "elsewhere", "PUBLIC").await.body["uuid"].as_str().unwrap().to_string();
        let own = react(&app, &v.owner, &elsewhere, json!({"reactionType": "COMMENT", "content": "by owner"})).await.expect(201);
        let own = own.body["uuid"].as_str().unwrap().to_string();
        let path = format!("/experiences/{elsewhere}/experience_reactions");
        assert_eq!(listed(&app, &v, &path, "experienceReactions", &own).await, [true, true, false], "the owner's reaction: self and contacts");
        let delete = format!("{path}/{own}");
        for ((who, user), status) in v.each().into_iter().skip(1).zip([403, 404]) {
            let r = app.delete(&delete, Some(&user.token)).await;
            assert_eq!(r.status, status, "DELETE the owner's reaction as {who}: {}", r.text);
        }
        // ... and a stranger's reaction on the owner's public post: the post's owner sees
        // every reaction on it, a contact of the owner does not see a stranger's.
        let theirs = react(&app, &v.stranger, &public, json!({"reactionType": "COMMENT", "content": "by stranger"})).await.expect(201);
        let theirs = theirs.body["uuid"].as_str().unwrap().to_string();
        let path = format!("/experiences/{public}/experience_reactions");
        assert_eq!(listed(&app, &v, &path, "experienceReactions", &theirs).await, [true, false, true], "a stranger's reaction on the owner's post");
        let delete_theirs = format!("{path}/{theirs}");
        cells!(v, "DELETE a stranger's reaction", [403, 404, 204], |u| app.delete(&delete_theirs, Some(&u.token)).await);

        // --- the owner may do what the others may not ------------------------------
        app.delete(&delete, Some(&v.owner.token)).await.expect(204);
        for experience in [&public, &private] {
            app.delete(&format!("/experiences/{experience}"), Some(&v.owner.token)).await.expect(204);
            let gone = format!("/experiences/{experience}");
            cells!(v, "GET a deleted experience", [404, 404, 404], |u| app.get(&gone, Some(&u.token)).await);
        }
    }
}
