use crate::conformance;
use crate::harness::person;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::people::{
    AccountStatus, Email, NewAccount, NewPerson, PeopleQuery, PersonFields, PersonPatch, Username,
};
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::domain::time;
use metmos_engine::error::StoreError;
use uuid::Uuid;

fn new_account(sub: &str) -> NewAccount {
    NewAccount {
        uuid: Uuid::new_v4(),
        cognito_user_id: sub.into(),
        account_status: AccountStatus::Pending,
        at: time::now(),
    }
}

fn new_person(account_uuid: Uuid, username: &str, email: &str) -> NewPerson {
    PersonFields {
        first_name: Some("Mary".into()),
        contact_number: Some("+61 400 000 001".into()),
        ..PersonFields::named(
            Username::parse(username).unwrap(),
            Email::parse(email).unwrap(),
        )
    }
    .into_new(account_uuid, time::now())
}

conformance! {
    async fn accounts_and_people_round_trip(store) {
        let a = new_account("sub-1");
        let account = store.insert_account(&a, &[]).await.unwrap();
        assert_eq!(account.uuid, a.uuid);
        assert_eq!(account.created_at, a.at, "timestamps come back exactly");
        assert_eq!(store.insert_account(&new_account("sub-1"), &[]).await.unwrap_err(), StoreError::Refused(Refusal::AccountExists));

        let p = new_person(a.uuid, "mary", "Mary@Example.com");
        let person = store.insert_person(&p, &[]).await.unwrap();
        assert_eq!(person.account_uuid, a.uuid);
        assert_eq!(store.person_by_uuid(p.uuid).await.unwrap(), Some(person.clone()));
        let (acc, per) = store.caller_by_cognito_id("sub-1").await.unwrap().unwrap();
        assert_eq!(acc, account);
        assert_eq!(per, Some(person.clone()));
        assert!(store.caller_by_cognito_id("nobody").await.unwrap().is_none());

        // The same failures with the same words on both stores.
        let err = store.insert_person(&new_person(a.uuid, "other", "o@example.com"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::AccountHasPerson));
        let b = store.insert_account(&new_account("sub-2"), &[]).await.unwrap();
        let err = store.insert_person(&new_person(b.uuid, "MARY", "x@example.com"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::UsernameTaken));
        let err = store.insert_person(&new_person(b.uuid, "mary2", "mary@example.COM"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::EmailTaken));
        let err = store.insert_person(&new_person(Uuid::new_v4(), "ghost", "g@example.com"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::AccountNotFound));
    }

    async fn account_with_person_is_all_or_nothing(store) {
        let taken = person(store, "taken").await;
        let a = new_account("sub-x");
        let err = store.insert_account_with_person(&a, &new_person(a.uuid, "taken", "new@example.com"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::UsernameTaken));
        assert!(store.account_by_uuid(a.uuid).await.unwrap().is_none(), "no account left behind");
        assert!(store.person_by_uuid(taken.uuid).await.unwrap().is_some());
    }

    async fn update_person_applies_patch(store) {
        let p = person(store, "patchy").await;
        let at = time::now();
        let patch = PersonPatch { bio: Some(Some("hello".into())), first_name: Some(None), ..Default::default() };
        let updated = store.update_person(p.uuid, &patch, at, &[]).await.unwrap();
        assert_eq!(updated.bio.as_deref(), Some("hello"));
        assert_eq!(updated.updated_at, at);
        assert_eq!(store.person_by_uuid(p.uuid).await.unwrap(), Some(updated));
        let err = store.update_person(Uuid::new_v4(), &patch, at, &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::PersonNotFound));
    }

    async fn search_orders_and_pages_alike(store) {
        for name in ["anna", "annabel", "joanna", "bob"] {
            person(store, name).await;
        }
        let q = PeopleQuery { q: Some("ANNA".into()) };
        let page = store.search_people(&q, &PageRequest { limit: 2, after: None }).await.unwrap();
        let names: Vec<_> = page.items.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(names, ["anna", "joanna"], "exact first, then newest");
        let next = store.search_people(&q, &PageRequest { limit: 2, after: page.after }).await.unwrap();
        let names: Vec<_> = next.items.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(names, ["annabel"]);
        assert_eq!(next.after, None);
        let by_email = store.search_people(&PeopleQuery { q: Some("bob@example.com".into()) }, &PageRequest::default()).await.unwrap();
        assert_eq!(by_email.items.len(), 1);
        let all = store.search_people(&PeopleQuery { q: None }, &PageRequest::default()).await.unwrap();
        assert_eq!(all.items.len(), 4);
    }
}
