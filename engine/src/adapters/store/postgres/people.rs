use super::{PgStore, Sql, map_err, record};
use crate::adapters::store::search_page;
use crate::domain::connections::ConnectionStatus;
use crate::domain::people::{
    Account, AccountStatus, NewAccount, NewPerson, PeopleQuery, Person, PersonPatch,
    normalize_phone,
};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::PeopleStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

const ACCOUNT_COLS: &str = "a.id, a.uuid, a.cognito_user_id, a.account_status, a.verification_status, a.created_at, a.updated_at";
pub(crate) const PERSON_COLS: &str = "p.id, p.uuid, p.account_id, a.uuid, p.username, p.first_name, p.last_name, p.email, \
     p.contact_number, p.birth_date, p.location, p.bio, p.created_at, p.updated_at";

fn account_from(r: &Row, at: usize) -> StoreResult<Account> {
    let status: String = r.get(at + 3);
    Ok(Account {
        id: r.get(at),
        uuid: r.get(at + 1),
        cognito_user_id: r.get(at + 2),
        account_status: AccountStatus::parse(&status).map_err(StoreError::Internal)?,
        verification_status: r.get(at + 4),
        created_at: r.get(at + 5),
        updated_at: r.get(at + 6),
    })
}

/// A person from `PERSON_COLS` starting at column `at`.
pub(crate) fn person_from(r: &Row, at: usize) -> Person {
    Person {
        id: r.get(at),
        uuid: r.get(at + 1),
        account_id: r.get(at + 2),
        account_uuid: r.get(at + 3),
        username: r.get(at + 4),
        first_name: r.get(at + 5),
        last_name: r.get(at + 6),
        email: r.get(at + 7),
        contact_number: r.get(at + 8),
        birth_date: r.get(at + 9),
        location: r.get(at + 10),
        bio: r.get(at + 11),
        created_at: r.get(at + 12),
        updated_at: r.get(at + 13),
    }
}

async fn insert_account_tx(
    tx: &deadpool_postgres::Transaction<'_>,
    a: &NewAccount,
) -> StoreResult<Account> {
    tx.fetch_one(
        &format!(
            "INSERT INTO account AS a (uuid, cognito_user_id, account_status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {ACCOUNT_COLS}"
        ),
        &[
            &a.uuid,
            &a.cognito_user_id,
            &a.account_status.as_str(),
            &a.at,
        ],
        |r| account_from(r, 0),
    )
    .await
}

async fn insert_person_tx(
    tx: &deadpool_postgres::Transaction<'_>,
    p: &NewPerson,
    account: &Account,
) -> StoreResult<Person> {
    let id = tx
        .fetch_one(
            "INSERT INTO person (uuid, account_id, username, first_name, last_name, email, contact_number, \
             birth_date, location, bio, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
            &[
                &p.uuid,
                &account.id,
                &p.fields.username.as_str(),
                &p.fields.first_name,
                &p.fields.last_name,
                &p.fields.email.as_str(),
                &p.fields.contact_number,
                &p.fields.birth_date,
                &p.fields.location,
                &p.fields.bio,
                &p.at,
            ],
            |r| Ok(r.get(0)),
        )
        .await?;
    Ok(p.stored(id, account))
}

/// `%needle%` for ILIKE, with the pattern characters of the needle escaped.
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The search text of a [`PeopleQuery`] as the three parameters of [`PersonMatch::clause`]
/// (people search and contacts search match alike: `person_matches` in SQL).
pub(crate) struct PersonMatch {
    pub needle: Option<String>,
    pub pattern: Option<String>,
    pub phone: Option<String>,
}

impl PersonMatch {
    pub fn new(query: &PeopleQuery) -> Self {
        let needle = query.needle();
        Self {
            pattern: needle.as_deref().map(like_pattern),
            phone: needle
                .as_deref()
                .map(normalize_phone)
                .filter(|p| !p.is_empty()),
            needle,
        }
    }

    /// "person `p` matches": names and username by substring, email and contact number
    /// exactly; true when there is no needle. Parameters `$n` (needle), `$n+1` (pattern),
    /// `$n+2` (phone).
    pub fn clause(n: usize) -> String {
        let (needle, pattern, phone) = (n, n + 1, n + 2);
        format!(
            "(${needle}::text IS NULL \
              OR p.username ILIKE ${pattern} OR p.first_name ILIKE ${pattern} OR p.last_name ILIKE ${pattern} \
              OR (coalesce(p.first_name, '') || ' ' || coalesce(p.last_name, '')) ILIKE ${pattern} \
              OR lower(p.email) = ${needle} \
              OR (${phone}::text IS NOT NULL AND p.contact_number IS NOT NULL AND \
                  (CASE WHEN ltrim(p.contact_number) LIKE '+%' THEN '+' ELSE '' END \
                   || regexp_replace(p.contact_number, '[^0-9]', '', 'g')) = ${phone}))"
        )
    }
}

#[async_trait]
impl PeopleStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_account")]
    async fn insert_account(
        &self,
        account: &NewAccount,
        events: &[EventEnvelope],
    ) -> StoreResult<Account> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let a = insert_account_tx(&tx, account).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(a)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_person")]
    async fn insert_person(
        &self,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<Person> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let account = tx
            .fetch_opt(
                &format!("SELECT {ACCOUNT_COLS} FROM account a WHERE a.uuid = $1 FOR UPDATE"),
                &[&person.account_uuid],
                |r| account_from(r, 0),
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::AccountNotFound))?;
        let p = insert_person_tx(&tx, person, &account).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(p)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_account_with_person")]
    async fn insert_account_with_person(
        &self,
        account: &NewAccount,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<(Account, Person)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let a = insert_account_tx(&tx, account).await?;
        let p = insert_person_tx(&tx, person, &a).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((a, p))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.account_by_uuid")]
    async fn account_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Account>> {
        self.fetch_opt(
            &format!("SELECT {ACCOUNT_COLS} FROM account a WHERE a.uuid = $1"),
            &[&uuid],
            |r| account_from(r, 0),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.caller_by_cognito_id")]
    async fn caller_by_cognito_id(
        &self,
        cognito_user_id: &str,
    ) -> StoreResult<Option<(Account, Option<Person>)>> {
        self.fetch_opt(
            &format!(
                "SELECT {ACCOUNT_COLS}, {PERSON_COLS} FROM account a LEFT JOIN person p ON p.account_id = a.id \
                 WHERE a.cognito_user_id = $1"
            ),
            &[&cognito_user_id],
            |row| {
                let account = account_from(row, 0)?;
                let person_id: Option<i64> = row.get(7);
                Ok((account, person_id.map(|_| person_from(row, 7))))
            },
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.person_by_uuid")]
    async fn person_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Person>> {
        self.fetch_opt(
            &format!(
                "SELECT {PERSON_COLS} FROM person p JOIN account a ON a.id = p.account_id WHERE p.uuid = $1"
            ),
            &[&uuid],
            |r| Ok(person_from(r, 0)),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.update_person")]
    async fn update_person(
        &self,
        person_uuid: Uuid,
        patch: &PersonPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Person> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Read-modify-write under a row lock: the patch applies to the row as it is now.
        let mut person = tx
            .fetch_opt(
                &format!(
                    "SELECT {PERSON_COLS} FROM person p JOIN account a ON a.id = p.account_id WHERE p.uuid = $1 FOR UPDATE OF p"
                ),
                &[&person_uuid],
                |r| Ok(person_from(r, 0)),
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        patch.apply(&mut person);
        person.updated_at = at;
        tx.exec(
            "UPDATE person SET first_name = $2, last_name = $3, contact_number = $4, birth_date = $5, \
             location = $6, bio = $7, updated_at = $8 WHERE id = $1",
            &[
                &person.id,
                &person.first_name,
                &person.last_name,
                &person.contact_number,
                &person.birth_date,
                &person.location,
                &person.bio,
                &at,
            ],
        )
        .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(person)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.search_people")]
    async fn search_people(
        &self,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let client = self.client().await?;
        let matching = PersonMatch::new(query);
        let needle = matching.needle.clone();
        let mut rows = Vec::with_capacity(page.fetch());
        let mut exact_id: Option<i64> = None;
        if let Some(n) = &needle {
            let exact = client
                .fetch_opt(
                    &format!(
                        "SELECT {PERSON_COLS} FROM person p JOIN account a ON a.id = p.account_id WHERE lower(p.username) = $1"
                    ),
                    &[n],
                    |r| Ok(person_from(r, 0)),
                )
                .await?;
            if let Some(p) = exact {
                exact_id = Some(p.id);
                if page.after.is_none() {
                    rows.push(p);
                }
            }
        }
        let limit = (page.fetch() - rows.len()) as i64;
        let params: [&(dyn ToSql + Sync); 6] = [
            &page.after,
            &exact_id,
            &matching.needle,
            &matching.pattern,
            &matching.phone,
            &limit,
        ];
        let matches = client
            .fetch_all(
                &format!(
                    "SELECT {PERSON_COLS} FROM person p JOIN account a ON a.id = p.account_id \
                     WHERE ($1::bigint IS NULL OR p.id < $1) \
                       AND ($2::bigint IS NULL OR p.id <> $2) \
                       AND {} \
                     ORDER BY p.id DESC LIMIT $6",
                    PersonMatch::clause(3)
                ),
                &params,
                |r| Ok(person_from(r, 0)),
            )
            .await?;
        rows.extend(matches);
        Ok(search_page(rows, page, exact_id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.are_contacts")]
    async fn are_contacts(&self, a: i64, b: i64) -> StoreResult<bool> {
        self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM connection WHERE status = $3 AND \
             ((person_id = $1 AND connection_id = $2) OR (person_id = $2 AND connection_id = $1)))",
            &[&a, &b, &ConnectionStatus::Accepted.as_str()],
            |r| Ok(r.get(0)),
        )
        .await
    }
}
