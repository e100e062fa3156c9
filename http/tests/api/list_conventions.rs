//! The list conventions of API.md, checked once for every list endpoint:
//! `{"<plural>": [...], "after": cursor|null}`, `limit` 1..=100 (default 10),
//! `after` absent / `-1` / `0` = first page, a bad cursor = 400, every row exactly once
//! across pages, `"after": null` on the last page.

use crate::connections::request;
use crate::experiences::{post_experience, react};
use crate::harness::TestApp;
use crate::on_both_stores;
use serde_json::{Value, json};

/// `path` with one more query parameter.
fn with(path: &str, param: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{param}")
}

fn rows<'a>(body: &'a Value, key: &str) -> &'a Vec<Value> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is a list: {body}"))
}

async fn check_list(app: &TestApp, token: &str, path: &str, key: &str, expected_rows: usize) {
    let get = |p: String| async move { app.get(&p, Some(token)).await };

    // The shape, and the first page however it is spelled.
    let absent = get(path.to_string()).await.expect(200);
    assert_eq!(
        absent.body.as_object().map(|o| o.len()),
        Some(2),
        "{path}: only `{key}` and `after`: {}",
        absent.text
    );
    assert!(
        absent.body.get("after").is_some(),
        "{path}: `after` present"
    );
    for first in ["after=-1", "after=0", "after="] {
        let r = get(with(path, first)).await.expect(200);
        assert_eq!(r.body, absent.body, "{path}?{first} is the first page");
    }

    // limit: 1..=100.
    for bad in ["limit=101", "limit=0", "limit=-1", "limit=ten", "limit=1.5"] {
        let r = get(with(path, bad)).await.expect_error(400);
        assert_eq!(
            r.message(),
            "limit must be an integer from 1 to 100",
            "{path}?{bad}"
        );
    }
    get(with(path, "limit=100")).await.expect(200);
    // after: a cursor from a previous page, or -1.
    for bad in ["after=abc", "after=-2", "after=1.5", "after=null"] {
        let r = get(with(path, bad)).await.expect_error(400);
        assert_eq!(
            r.message(),
            "after must be a cursor returned by a previous page, or -1",
            "{path}?{bad}"
        );
    }

    // Everything on one page: the last page says `after: null`.
    let all = get(with(path, "limit=100")).await.expect(200);
    let all_rows = rows(&all.body, key).clone();
    assert_eq!(all_rows.len(), expected_rows, "{path}: {}", all.text);
    assert!(all.body["after"].is_null(), "{path}: last page");

    // Pages of 2 give the same rows, in the same order, each once.
    let mut paged = Vec::new();
    let mut cursor: Option<i64> = None;
    let mut pages = 0;
    loop {
        let p = match cursor {
            None => with(path, "limit=2"),
            Some(c) => with(&with(path, "limit=2"), &format!("after={c}")),
        };
        let r = get(p).await.expect(200);
        let page = rows(&r.body, key);
        assert!(page.len() <= 2, "{path}: limit honoured");
        paged.extend(page.iter().cloned());
        pages += 1;
        match &r.body["after"] {
            Value::Null => break,
            Value::Number(n) => {
                assert_eq!(page.len(), 2, "{path}: a next page only after a full one");
                cursor = Some(n.as_i64().expect("cursor is an integer"));
            }
            other => panic!("{path}: after is a number or null, got {other}"),
        }
        assert!(pages <= expected_rows, "{path}: paging ends");
    }
    assert_eq!(paged, all_rows, "{path}: pages add up to the whole list");
}

on_both_stores! {
    async fn every_list_endpoint_follows_the_conventions(app) {
        let me = app.user("viewer").await;
        let others = [app.user("other1").await, app.user("other2").await, app.user("other3").await];
        let mut connection_uuids = Vec::new();
        for o in &others {
            let r = request(&app, o, &me).await.expect(201);
            connection_uuids.push(r.body["uuid"].as_str().unwrap().to_string());
        }
        for uuid in &connection_uuids {
            app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&me.token)).await.expect(200);
        }
        let mut experience = String::new();
        for i in 0..3 {
            let r = post_experience(&app, &me, &format!("post {i}"), "CONTACT_ONLY").await;
            experience = r.body["uuid"].as_str().unwrap().to_string();
        }
        for o in &others {
            react(&app, o, &experience, json!({"reactionType": "COMMENT", "content": "hi"})).await.expect(201);
        }
        // Eleven rows for the default limit of 10 to show.
        for i in 0..11 {
            app.user(&format!("filler{i}")).await;
        }
        let default = app.get("/people", Some(&me.token)).await.expect(200);
        assert_eq!(rows(&default.body, "people").len(), 10, "default limit is 10");
        assert!(default.body["after"].is_i64());

        let lists: [(&str, &str, usize); 6] = [
            ("/people?q=other", "people", 3),
            ("/notifications", "notifications", 3),
            ("/connections", "connections", 3),
            ("/connections/contacts", "contacts", 3),
            ("/experiences", "experiences", 3),
            (&format!("/experiences/{experience}/experience_reactions"), "experienceReactions", 3),
        ];
        for (path, key, expected) in lists {
            check_list(&app, &me.token, path, key, expected).await;
        }
    }
}
