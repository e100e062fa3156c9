use super::{MemoryStore, State};
use crate::adapters::store::search_page;
use crate::domain::people::{
    Account, NewAccount, NewPerson, PeopleQuery, Person, PersonPatch, person_matches,
};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::PeopleStore;
use async_trait::async_trait;
use uuid::Uuid;

impl State {
    fn account_by_uuid(&self, uuid: Uuid) -> Option<&Account> {
        self.accounts.values().find(|a| a.uuid == uuid)
    }

    pub(crate) fn person_by_uuid(&self, uuid: Uuid) -> Option<&Person> {
        self.persons.values().find(|p| p.uuid == uuid)
    }

    fn check_account(&self, a: &NewAccount) -> StoreResult<()> {
        if self
            .accounts
            .values()
            .any(|x| x.cognito_user_id == a.cognito_user_id || x.uuid == a.uuid)
        {
            return Err(StoreError::Refused(Refusal::AccountExists));
        }
        Ok(())
    }

    fn check_person(&self, p: &NewPerson, account_id: i64) -> StoreResult<()> {
        if self.persons.values().any(|x| x.account_id == account_id) {
            return Err(StoreError::Refused(Refusal::AccountHasPerson));
        }
        let username = p.fields.username.as_str().to_lowercase();
        if self
            .persons
            .values()
            .any(|x| x.username.to_lowercase() == username)
        {
            return Err(StoreError::Refused(Refusal::UsernameTaken));
        }
        let email = p.fields.email.as_str().to_lowercase();
        if self
            .persons
            .values()
            .any(|x| x.email.to_lowercase() == email)
        {
            return Err(StoreError::Refused(Refusal::EmailTaken));
        }
        Ok(())
    }

    fn put_account(&mut self, a: &NewAccount) -> Account {
        let account = a.stored(self.next_id("account"));
        self.accounts.insert(account.id, account.clone());
        account
    }

    fn put_person(&mut self, p: &NewPerson, account: &Account) -> Person {
        let person = p.stored(self.next_id("person"), account);
        self.persons.insert(person.id, person.clone());
        person
    }
}

#[async_trait]
impl PeopleStore for MemoryStore {
    async fn insert_account(
        &self,
        account: &NewAccount,
        events: &[EventEnvelope],
    ) -> StoreResult<Account> {
        let mut s = self.state.write();
        s.check_account(account)?;
        let a = s.put_account(account);
        s.record(events);
        Ok(a)
    }

    async fn insert_person(
        &self,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<Person> {
        let mut s = self.state.write();
        let account = s
            .account_by_uuid(person.account_uuid)
            .cloned()
            .ok_or(StoreError::Refused(Refusal::AccountNotFound))?;
        s.check_person(person, account.id)?;
        let p = s.put_person(person, &account);
        s.record(events);
        Ok(p)
    }

    async fn insert_account_with_person(
        &self,
        account: &NewAccount,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<(Account, Person)> {
        let mut s = self.state.write();
        s.check_account(account)?;
        // The account does not exist yet, so no person can hang on it: -1 matches none.
        s.check_person(person, -1)?;
        let a = s.put_account(account);
        let p = s.put_person(person, &a);
        s.record(events);
        Ok((a, p))
    }

    async fn account_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Account>> {
        Ok(self.state.read().account_by_uuid(uuid).cloned())
    }

    async fn caller_by_cognito_id(
        &self,
        cognito_user_id: &str,
    ) -> StoreResult<Option<(Account, Option<Person>)>> {
        let s = self.state.read();
        Ok(s.accounts
            .values()
            .find(|a| a.cognito_user_id == cognito_user_id)
            .map(|a| {
                let person = s.persons.values().find(|p| p.account_id == a.id).cloned();
                (a.clone(), person)
            }))
    }

    async fn person_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Person>> {
        Ok(self.state.read().person_by_uuid(uuid).cloned())
    }

    async fn update_person(
        &self,
        person_uuid: Uuid,
        patch: &PersonPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Person> {
        let mut s = self.state.write();
        let id = s
            .person_by_uuid(person_uuid)
            .map(|p| p.id)
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        let updated = {
            let p = s
                .persons
                .get_mut(&id)
                .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
            patch.apply(p);
            p.updated_at = at;
            p.clone()
        };
        s.record(events);
        Ok(updated)
    }

    async fn search_people(
        &self,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let s = self.state.read();
        let needle = query.needle();
        let exact = needle
            .as_deref()
            .and_then(|n| s.persons.values().find(|p| p.username.to_lowercase() == n));
        let exact_id = exact.map(|p| p.id);
        let mut rows: Vec<Person> = Vec::with_capacity(page.fetch());
        if page.after.is_none() {
            rows.extend(exact.cloned());
        }
        rows.extend(
            s.persons
                .values()
                .rev()
                .filter(|p| Some(p.id) != exact_id)
                .filter(|p| page.after.is_none_or(|after| p.id < after))
                .filter(|p| needle.as_deref().is_none_or(|n| person_matches(p, n)))
                .take(page.fetch() - rows.len())
                .cloned(),
        );
        Ok(search_page(rows, page, exact_id))
    }

    async fn are_contacts(&self, a: i64, b: i64) -> StoreResult<bool> {
        Ok(self.state.read().are_contacts(a, b))
    }
}
