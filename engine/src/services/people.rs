//! Accounts and persons: sign-up (INTERNAL), dev users, the caller's own profile, other
//! people's profiles (privacy by relationship), and people search.

use crate::domain::people::{
    Account, AccountStatus, CreateAccount, CreatePerson, NewAccount, PeopleQuery, Person,
    PersonFields, PersonPatch,
};
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::events::{AccountCreated, Event, EventEnvelope, PersonChanged};
use crate::ports::Store;
use crate::services::caller_cache::CallerCache;
use crate::services::outbox::OutboxSignal;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The authenticated caller: their account, and their person once sign-up created it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub person: Option<Person>,
}

impl Caller {
    /// The caller's person, or 404 for an account whose sign-up has not created one.
    pub fn person(&self) -> Result<&Person> {
        self.person
            .as_ref()
            .ok_or_else(|| Error::not_found("Person not found"))
    }
}

// --- views -----------------------------------------------------------------------------
// The other wire types (bodies, account view, page) live in `metmos-http`'s
// `routes/{people,accounts}.rs`. `PersonView` stays here while chat views embed it.

/// A person as some viewer may see them. `email`, `contactNumber` and `birthDate` are
/// present only for the person themself and their contacts; for anyone else the keys
/// are absent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub uuid: Uuid,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_uuid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Only in one's own person (`/people/me`): whether read receipts are shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_receipts: Option<bool>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// How close the viewer is to the person viewed; decides what they see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closeness {
    Myself,
    Contact,
    Stranger,
}

impl PersonView {
    pub fn new(p: &Person, closeness: Closeness) -> Self {
        let private = closeness != Closeness::Stranger;
        Self {
            uuid: p.uuid,
            username: p.username.clone(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            location: p.location.clone(),
            bio: p.bio.clone(),
            account_uuid: (closeness == Closeness::Myself).then_some(p.account_uuid),
            email: private.then(|| p.email.clone()),
            contact_number: if private {
                p.contact_number.clone()
            } else {
                None
            },
            birth_date: if private { p.birth_date.clone() } else { None },
            read_receipts: None,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    /// What anyone signed in may see (search results, lists of other people).
    pub fn public(p: &Person) -> Self {
        Self::new(p, Closeness::Stranger)
    }
}

// --- service ----------------------------------------------------------------------------

/// A search text `q` (people search, contacts search): at most 100 characters.
pub fn parse_search_text(q: Option<String>) -> Result<Option<String>> {
    match q {
        Some(q) if q.chars().count() > 100 => {
            Err(Error::validation("q must be at most 100 characters"))
        }
        q => Ok(q),
    }
}

#[derive(Clone)]
pub struct PeopleService {
    store: Arc<dyn Store>,
    outbox: OutboxSignal,
    callers: Arc<CallerCache>,
}

fn person_event(p: &Person) -> PersonChanged {
    PersonChanged {
        person_uuid: p.uuid,
        account_uuid: p.account_uuid,
        username: p.username.clone(),
    }
}

impl PeopleService {
    pub fn new(store: Arc<dyn Store>, outbox: OutboxSignal, callers: Arc<CallerCache>) -> Self {
        Self {
            store,
            outbox,
            callers,
        }
    }

    /// INTERNAL `POST /accounts`, called by the sign-up trigger.
    #[tracing::instrument(skip_all)]
    pub async fn create_account(&self, cmd: CreateAccount) -> Result<Account> {
        let at = time::now();
        let new = NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id: cmd.cognito_user_id,
            account_status: cmd.account_status,
            at,
        };
        let event = Event::AccountCreated(AccountCreated {
            account_uuid: new.uuid,
            cognito_user_id: new.cognito_user_id.clone(),
            account_status: new.account_status.as_str().into(),
        });
        let account = self
            .store
            .insert_account(&new, &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        Ok(account)
    }

    /// INTERNAL `POST /people`: the person of an existing account.
    #[tracing::instrument(skip_all, fields(account_id = %cmd.account_uuid))]
    pub async fn create_person(&self, cmd: CreatePerson) -> Result<Person> {
        let at = time::now();
        let new = cmd.person.into_new(cmd.account_uuid, at);
        let event = Event::PersonCreated(PersonChanged {
            person_uuid: new.uuid,
            account_uuid: new.account_uuid,
            username: new.fields.username.as_str().into(),
        });
        let person = self
            .store
            .insert_person(&new, &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        Ok(person)
    }

    /// Dev mode: an ACTIVE account and its person in one transaction. The cognito user
    /// id is made up (`dev-<uuid>`), as no Cognito is involved.
    #[tracing::instrument(skip_all)]
    pub async fn create_dev_user(&self, fields: PersonFields) -> Result<(Account, Person)> {
        let at = time::now();
        let account = NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id: format!("dev-{}", Uuid::new_v4()),
            account_status: AccountStatus::Active,
            at,
        };
        let person = fields.into_new(account.uuid, at);
        let events = [
            EventEnvelope::new(
                Event::AccountCreated(AccountCreated {
                    account_uuid: account.uuid,
                    cognito_user_id: account.cognito_user_id.clone(),
                    account_status: AccountStatus::Active.as_str().into(),
                }),
                at,
            ),
            EventEnvelope::new(
                Event::PersonCreated(PersonChanged {
                    person_uuid: person.uuid,
                    account_uuid: account.uuid,
                    username: person.fields.username.as_str().into(),
                }),
                at,
            ),
        ];
        let created = self
            .store
            .insert_account_with_person(&account, &person, &events)
            .await?;
        self.outbox.nudge();
        Ok(created)
    }

    /// The caller a verified token's subject names. Unknown accounts (never created, or
    /// deleted) are 401: the token no longer opens anything. Blocked or disabled
    /// accounts are 403.
    #[tracing::instrument(skip_all)]
    pub async fn caller(&self, cognito_user_id: &str) -> Result<Caller> {
        let ticket = match self.callers.get(cognito_user_id) {
            Ok(caller) => return Ok(caller),
            Err(ticket) => ticket,
        };
        match self.store.caller_by_cognito_id(cognito_user_id).await? {
            None => Err(Error::unauthorized("Unknown account")),
            Some((account, _)) if !account.account_status.may_sign_in() => Err(Error::forbidden(
                format!("Account is {}", account.account_status.as_str()),
            )),
            Some((account, person)) => {
                let caller = Caller { account, person };
                self.callers.put(cognito_user_id, ticket, &caller);
                Ok(caller)
            }
        }
    }

    /// `PATCH /people/me`: the patch was parsed at the edge.
    #[tracing::instrument(skip_all, fields(person_id))]
    pub async fn update_me(&self, caller: &Caller, patch: PersonPatch) -> Result<Person> {
        let me = caller.person()?;
        tracing::Span::current().record("person_id", tracing::field::display(me.uuid));
        if let Some(on) = patch.read_receipts {
            // A setting stored apart from the profile fields.
            self.store.set_read_receipts(me.id, on).await?;
        }
        let at = time::now();
        let mut updated = me.clone();
        patch.apply(&mut updated);
        let event = EventEnvelope::new(Event::PersonUpdated(person_event(&updated)), at);
        let person = self
            .store
            .update_person(me.uuid, &patch, at, &[event])
            .await?;
        self.callers.forget(&caller.account.cognito_user_id);
        self.outbox.nudge();
        Ok(person)
    }

    pub async fn closeness(&self, viewer: &Person, other: &Person) -> Result<Closeness> {
        if viewer.id == other.id {
            Ok(Closeness::Myself)
        } else if self.store.are_contacts(viewer.id, other.id).await? {
            Ok(Closeness::Contact)
        } else {
            Ok(Closeness::Stranger)
        }
    }

    /// `GET /people/{uuid}`: private fields only for self and contacts.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn view(&self, caller: &Caller, uuid: Uuid) -> Result<PersonView> {
        let viewer = caller.person()?;
        let person = self
            .store
            .person_by_uuid(uuid)
            .await?
            .ok_or_else(|| Error::not_found("Person not found"))?;
        let closeness = self.closeness(viewer, &person).await?;
        Ok(PersonView::new(&person, closeness))
    }

    /// `GET /people?q=`: public views only, whatever matched (an exact email or phone
    /// match finds the person without revealing the value).
    #[tracing::instrument(skip_all)]
    pub async fn search(
        &self,
        caller: &Caller,
        q: Option<String>,
        page: PageRequest,
    ) -> Result<Page<PersonView>> {
        caller.person()?;
        let q = parse_search_text(q)?;
        let page = self.store.search_people(&PeopleQuery { q }, &page).await?;
        Ok(page.map(|p| PersonView::public(&p)))
    }
}
