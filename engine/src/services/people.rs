//! Accounts and persons: sign-up (INTERNAL), dev users, the caller's own profile, other
//! people's profiles (privacy by relationship), and people search.

use crate::domain::people::{
    self, Account, AccountStatus, Email, NewAccount, NewPerson, PeopleQuery, Person, PersonPatch,
    Username,
};
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Problems, Result};
use crate::events::{AccountCreated, Event, EventEnvelope, PersonChanged};
use crate::ports::Store;
use crate::services::outbox::OutboxSignal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_NAME: usize = 100;
const MAX_LOCATION: usize = 200;
const MAX_BIO: usize = 1000;

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

// --- wire types -------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountDto {
    /// User ID from the Cognito user pool (the token's `sub`).
    pub cognito_user_id: String,
    #[schema(example = "PENDING")]
    pub account_status: Option<String>,
}

/// A person's sign-up fields: the body of `POST /dev/users`, and (with `accountUuid`)
/// of `POST /people`. Unknown fields are refused where it is the whole body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonDetails {
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub contact_number: Option<String>,
    pub birth_date: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
}

impl PersonDetails {
    /// Just a username and an email (the CLI's `dev-user`).
    pub fn named(username: String, email: String) -> Self {
        Self {
            username,
            email,
            first_name: None,
            last_name: None,
            contact_number: None,
            birth_date: None,
            location: None,
            bio: None,
        }
    }

    /// Parses every field, recording each problem; `None` when any field failed.
    fn parse(
        &self,
        problems: &mut Problems,
        account_uuid: Uuid,
        at: Timestamp,
    ) -> Option<NewPerson> {
        let text =
            |field, value: &Option<String>, max| people::parse_text(field, value.as_deref(), max);
        let username = problems.check(Username::parse(&self.username));
        let email = problems.check(Email::parse(&self.email));
        let first_name = problems.check(text("firstName", &self.first_name, MAX_NAME));
        let last_name = problems.check(text("lastName", &self.last_name, MAX_NAME));
        let contact_number =
            problems.check(people::parse_contact_number(self.contact_number.as_deref()));
        let birth_date = problems.check(people::parse_birth_date(self.birth_date.as_deref()));
        let location = problems.check(text("location", &self.location, MAX_LOCATION));
        let bio = problems.check(text("bio", &self.bio, MAX_BIO));
        Some(NewPerson {
            uuid: Uuid::new_v4(),
            account_uuid,
            username: username?,
            email: email?,
            first_name: first_name?,
            last_name: last_name?,
            contact_number: contact_number?,
            birth_date: birth_date?,
            location: location?,
            bio: bio?,
            at,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePersonDto {
    pub account_uuid: String,
    #[serde(flatten)]
    pub person: PersonDetails,
}

/// The fields a person may change; anything else in the body is refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePersonDto {
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>, example = "1981-11-29")]
    pub birth_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    /// false: send no read receipts and see nobody's (one's own devices still sync).
    #[serde(default)]
    pub read_receipts: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub uuid: Uuid,
    pub cognito_user_id: String,
    pub account_status: AccountStatus,
    pub verification_status: Option<String>,
    /// The person of this account, once created.
    pub person_uuid: Option<Uuid>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl AccountView {
    pub fn new(a: &Account, person: Option<&Person>) -> Self {
        Self {
            uuid: a.uuid,
            cognito_user_id: a.cognito_user_id.clone(),
            account_status: a.account_status,
            verification_status: a.verification_status.clone(),
            person_uuid: person.map(|p| p.uuid),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

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

/// `{"people": [...], "after": cursor}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeoplePage {
    pub people: Vec<PersonView>,
    pub after: Option<i64>,
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
}

fn person_event(p: &Person) -> PersonChanged {
    PersonChanged {
        person_uuid: p.uuid,
        account_uuid: p.account_uuid,
        username: p.username.clone(),
    }
}

fn parse_cognito_user_id(raw: &str) -> std::result::Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("cognitoUserId must be 1 to 128 characters without spaces".into())
    } else {
        Ok(s.to_string())
    }
}

impl PeopleService {
    pub fn new(store: Arc<dyn Store>, outbox: OutboxSignal) -> Self {
        Self { store, outbox }
    }

    /// INTERNAL `POST /accounts`, called by the sign-up trigger.
    pub async fn create_account(&self, dto: CreateAccountDto) -> Result<Account> {
        let mut problems = Problems::new();
        let cognito_user_id = problems.check(parse_cognito_user_id(&dto.cognito_user_id));
        let status = match dto.account_status.as_deref() {
            None => Some(AccountStatus::Pending),
            Some(s) => problems.check(AccountStatus::parse(s)),
        };
        problems.finish()?;
        let (Some(cognito_user_id), Some(account_status)) = (cognito_user_id, status) else {
            return Err(Error::Internal("parsed fields missing".into()));
        };
        let at = time::now();
        let new = NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id,
            account_status,
            at,
        };
        let event = Event::AccountCreated(AccountCreated {
            account_uuid: new.uuid,
            cognito_user_id: new.cognito_user_id.clone(),
            account_status: account_status.as_str().into(),
        });
        let account = self
            .store
            .insert_account(&new, &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        Ok(account)
    }

    /// INTERNAL `POST /people`: the person of an existing account.
    pub async fn create_person(&self, dto: CreatePersonDto) -> Result<Person> {
        let mut problems = Problems::new();
        let account_uuid = problems.check(
            Uuid::parse_str(dto.account_uuid.trim())
                .map_err(|_| "accountUuid must be a UUID".to_string()),
        );
        let at = time::now();
        let new = dto
            .person
            .parse(&mut problems, account_uuid.unwrap_or_default(), at);
        problems.finish()?;
        let new = new.ok_or_else(|| Error::Internal("parsed fields missing".into()))?;
        let event = Event::PersonCreated(PersonChanged {
            person_uuid: new.uuid,
            account_uuid: new.account_uuid,
            username: new.username.as_str().into(),
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
    pub async fn create_dev_user(&self, dto: PersonDetails) -> Result<(Account, Person)> {
        let mut problems = Problems::new();
        let at = time::now();
        let account = NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id: format!("dev-{}", Uuid::new_v4()),
            account_status: AccountStatus::Active,
            at,
        };
        let person = dto.parse(&mut problems, account.uuid, at);
        problems.finish()?;
        let person = person.ok_or_else(|| Error::Internal("parsed fields missing".into()))?;
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
                    username: person.username.as_str().into(),
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
    pub async fn caller(&self, cognito_user_id: &str) -> Result<Caller> {
        match self.store.caller_by_cognito_id(cognito_user_id).await? {
            None => Err(Error::unauthorized("Unknown account")),
            Some((account, _)) if !account.account_status.may_sign_in() => Err(Error::forbidden(
                format!("Account is {}", account.account_status.as_str()),
            )),
            Some((account, person)) => Ok(Caller { account, person }),
        }
    }

    pub async fn update_me(&self, caller: &Caller, dto: UpdatePersonDto) -> Result<Person> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let text = |problems: &mut Problems, field: &str, v: Option<Option<String>>, max: usize| {
            v.map(|inner| problems.check(people::parse_text(field, inner.as_deref(), max)))
                .map(|r| r.flatten())
        };
        let patch = PersonPatch {
            first_name: text(&mut problems, "firstName", dto.first_name, MAX_NAME),
            last_name: text(&mut problems, "lastName", dto.last_name, MAX_NAME),
            contact_number: dto.contact_number.map(|v| {
                problems
                    .check(people::parse_contact_number(v.as_deref()))
                    .flatten()
            }),
            birth_date: dto.birth_date.map(|v| {
                problems
                    .check(people::parse_birth_date(v.as_deref()))
                    .flatten()
            }),
            location: text(&mut problems, "location", dto.location, MAX_LOCATION),
            bio: text(&mut problems, "bio", dto.bio, MAX_BIO),
        };
        problems.finish()?;
        if let Some(on) = dto.read_receipts {
            // A setting of its own (not a profile field): no PersonUpdated for it alone.
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
