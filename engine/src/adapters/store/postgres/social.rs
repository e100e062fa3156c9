use super::people::{PERSON_COLS, PersonMatch, person_from};
use super::{PgStore, Sql, map_err, notifications, record};
use crate::domain::assets::ParentType;
use crate::domain::connections::decide_request;
use crate::domain::connections::{Connection, ConnectionEntry, ConnectionStatus, NewConnection};
use crate::domain::experiences::{
    Experience, ExperienceFilter, NewExperience, NewReaction, Reaction, ReactionScope,
    ReactionType, Visibility,
};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::people::{PeopleQuery, Person};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::SocialStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// A connection with both persons' uuids; `FROM connection c JOIN person rp ON rp.id =
/// c.person_id JOIN person tp ON tp.id = c.connection_id`.
const CONNECTION_COLS: &str = "c.id, c.uuid, c.person_id, rp.uuid, c.connection_id, tp.uuid, \
     c.requested_at, c.status, c.created_at, c.updated_at";
const CONNECTION_JOINS: &str =
    "connection c JOIN person rp ON rp.id = c.person_id JOIN person tp ON tp.id = c.connection_id";
/// How many columns `CONNECTION_COLS` has (the other person's columns follow).
const CONNECTION_WIDTH: usize = 10;

fn connection_from(r: &Row) -> StoreResult<Connection> {
    let status: String = r.get(7);
    Ok(Connection {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        connection_id: r.get(4),
        connection_person_uuid: r.get(5),
        requested_at: r.get(6),
        status: ConnectionStatus::parse(&status).map_err(StoreError::Internal)?,
        created_at: r.get(8),
        updated_at: r.get(9),
    })
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// `FROM experience e JOIN person p ON p.id = e.person_id`.
const EXPERIENCE_COLS: &str =
    "e.id, e.uuid, e.person_id, p.uuid, e.content, e.visibility, e.created_at, e.updated_at";

fn experience_from(r: &Row) -> StoreResult<Experience> {
    let visibility: String = r.get(5);
    Ok(Experience {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        content: r.get(4),
        visibility: Visibility::parse(&visibility).map_err(StoreError::Internal)?,
        created_at: r.get(6),
        updated_at: r.get(7),
    })
}

/// `FROM experience_reaction r JOIN person p ON p.id = r.person_id JOIN experience e ON
/// e.id = r.experience_id`.
const REACTION_COLS: &str = "r.id, r.uuid, r.person_id, p.uuid, r.experience_id, e.uuid, \
     r.reaction_type, r.content, r.created_at, r.updated_at";
const REACTION_JOINS: &str = "experience_reaction r JOIN person p ON p.id = r.person_id \
     JOIN experience e ON e.id = r.experience_id";

fn reaction_from(r: &Row) -> StoreResult<Reaction> {
    let kind: String = r.get(6);
    Ok(Reaction {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        experience_id: r.get(4),
        experience_uuid: r.get(5),
        reaction_type: ReactionType::parse(&kind).map_err(StoreError::Internal)?,
        content: r.get(7),
        created_at: r.get(8),
        updated_at: r.get(9),
    })
}

/// "a connection with status `accepted` (the placeholder bound to
/// `ConnectionStatus::Accepted.as_str()`) joins person `viewer` and the person in column
/// `other`": the contact test of every visibility rule, in SQL.
fn contact_sql(viewer: &str, other: &str, accepted: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM connection c WHERE c.status = {accepted} AND \
         ((c.person_id = {viewer} AND c.connection_id = {other}) OR \
          (c.person_id = {other} AND c.connection_id = {viewer})))"
    )
}

async fn reaction_by_id_tx(tx: &Tx<'_>, id: i64) -> StoreResult<Option<Reaction>> {
    tx.fetch_opt(
        &format!("SELECT {REACTION_COLS} FROM {REACTION_JOINS} WHERE r.id = $1"),
        &[&id],
        reaction_from,
    )
    .await
}

async fn connection_by_id_tx(tx: &Tx<'_>, id: i64) -> StoreResult<Option<Connection>> {
    tx.fetch_opt(
        &format!("SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} WHERE c.id = $1"),
        &[&id],
        connection_from,
    )
    .await
}

#[async_trait]
impl SocialStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_connection")]
    async fn insert_connection(
        &self,
        new: &NewConnection,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Both persons must still exist (an account deletion may have won the race);
        // FOR SHARE holds them until commit. Checked here so the answer is "Person not
        // found", as in memory, rather than a foreign-key refusal.
        let ids = [new.person_id, new.connection_id];
        let found = tx
            .fetch_all(
                "SELECT id FROM person WHERE id = ANY($1) FOR SHARE",
                &[&&ids[..]],
                |_| Ok(()),
            )
            .await?;
        if found.len() != 2 {
            return Err(StoreError::Refused(Refusal::PersonNotFound));
        }
        let live = ConnectionStatus::LIVE
            .map(ConnectionStatus::as_str)
            .to_vec();
        let (live_pair, last_rejected_at): (bool, Option<Timestamp>) = tx
            .fetch_one(
                "SELECT EXISTS (SELECT 1 FROM connection WHERE status = ANY($3) \
                   AND LEAST(person_id, connection_id) = LEAST($1::bigint, $2::bigint) \
                   AND GREATEST(person_id, connection_id) = GREATEST($1::bigint, $2::bigint)), \
                 (SELECT max(updated_at) FROM connection \
                   WHERE person_id = $1 AND connection_id = $2 AND status = $4)",
                &[
                    &new.person_id,
                    &new.connection_id,
                    &live,
                    &ConnectionStatus::Rejected.as_str(),
                ],
                |r| Ok((r.get(0), r.get(1))),
            )
            .await?;
        decide_request(live_pair, last_rejected_at, new.at, new.cooldown_days)?;
        // connection_live_pair_key still guards two concurrent requests; its violation
        // maps to the same refusal (ConnectionExists).
        let id: i64 = tx
            .fetch_one(
                "INSERT INTO connection (uuid, person_id, connection_id, requested_at, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $4, $4) RETURNING id",
                &[
                    &new.uuid,
                    &new.person_id,
                    &new.connection_id,
                    &new.at,
                    &ConnectionStatus::Pending.as_str(),
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        let connection = connection_by_id_tx(&tx, id)
            .await?
            .ok_or_else(|| StoreError::Internal("inserted connection not readable".into()))?;
        let stored = notifications::insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((connection, stored))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.connection_by_uuid")]
    async fn connection_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Connection>> {
        self.fetch_opt(
            &format!("SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} WHERE c.uuid = $1"),
            &[&uuid],
            connection_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.update_connection_status")]
    async fn update_connection_status(
        &self,
        id: i64,
        from: ConnectionStatus,
        to: ConnectionStatus,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Compare-and-set: only a row still in `from` moves, so of two concurrent
        // answers exactly one wins and the other gets 409.
        let changed = tx
            .exec(
                "UPDATE connection SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
                &[&id, &from.as_str(), &to.as_str(), &at],
            )
            .await?;
        let connection = connection_by_id_tx(&tx, id)
            .await?
            .ok_or(StoreError::Refused(Refusal::ConnectionNotFound))?;
        if changed == 0 {
            return Err(StoreError::Refused(Refusal::ConnectionNotPending));
        }
        let stored = notifications::insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((connection, stored))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_connections")]
    async fn list_connections(
        &self,
        person_id: i64,
        status: Option<ConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ConnectionEntry>> {
        let status = status.map(|s| s.as_str());
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {CONNECTION_COLS}, {PERSON_COLS} FROM {CONNECTION_JOINS} \
                     JOIN person p ON p.id = CASE WHEN c.person_id = $1 THEN c.connection_id ELSE c.person_id END \
                     JOIN account a ON a.id = p.account_id \
                     WHERE (c.person_id = $1 OR c.connection_id = $1) \
                       AND ($2::text IS NULL OR c.status = $2) \
                       AND ($3::bigint IS NULL OR c.id < $3) \
                     ORDER BY c.id DESC LIMIT $4"
                ),
                &[&person_id, &status, &page.after, &(page.fetch() as i64)],
                |r| {
                    Ok(ConnectionEntry {
                        connection: connection_from(r)?,
                        other: person_from(r, CONNECTION_WIDTH),
                    })
                },
            )
            .await?;
        Ok(Page::from_rows(items, page, |e| e.connection.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_contacts")]
    async fn list_contacts(
        &self,
        person_id: i64,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let matching = PersonMatch::new(query);
        let limit = page.fetch() as i64;
        let params: [&(dyn ToSql + Sync); 7] = [
            &person_id,
            &page.after,
            &matching.needle,
            &matching.pattern,
            &matching.phone,
            &limit,
            &ConnectionStatus::Accepted.as_str(),
        ];
        let items: Vec<(i64, Person)> = self
            .fetch_all(
                &format!(
                    "SELECT c.id, {PERSON_COLS} FROM connection c \
                     JOIN person p ON p.id = CASE WHEN c.person_id = $1 THEN c.connection_id ELSE c.person_id END \
                     JOIN account a ON a.id = p.account_id \
                     WHERE c.status = $7 AND (c.person_id = $1 OR c.connection_id = $1) \
                       AND ($2::bigint IS NULL OR c.id < $2) \
                       AND {} \
                     ORDER BY c.id DESC LIMIT $6",
                    PersonMatch::clause(3)
                ),
                &params,
                |r| Ok((r.get(0), person_from(r, 1))),
            )
            .await?;
        Ok(Page::from_rows(items, page, |(id, _)| *id).map(|(_, p)| p))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_contact")]
    async fn delete_contact(
        &self,
        person_id: i64,
        other_id: i64,
        events: &[EventEnvelope],
    ) -> StoreResult<Connection> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let connection = tx
            .fetch_opt(
                &format!(
                    "SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} \
                     WHERE c.status = $3 AND ((c.person_id = $1 AND c.connection_id = $2) \
                        OR (c.person_id = $2 AND c.connection_id = $1)) \
                     FOR UPDATE OF c"
                ),
                &[&person_id, &other_id, &ConnectionStatus::Accepted.as_str()],
                connection_from,
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::ContactNotFound))?;
        tx.exec("DELETE FROM connection WHERE id = $1", &[&connection.id])
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(connection)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_experience")]
    async fn insert_experience(
        &self,
        new: &NewExperience,
        events: &[EventEnvelope],
    ) -> StoreResult<Experience> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // INSERT ... SELECT: no row when the poster is gone, answered as in memory.
        let id: i64 = tx
            .fetch_opt(
                "INSERT INTO experience (uuid, person_id, content, visibility, created_at, updated_at) \
                 SELECT $1, p.id, $3, $4, $5, $5 FROM person p WHERE p.id = $2 RETURNING id",
                &[
                    &new.uuid,
                    &new.person_id,
                    &new.content,
                    &new.visibility.as_str(),
                    &new.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        let experience = tx
            .fetch_one(
                &format!(
                    "SELECT {EXPERIENCE_COLS} FROM experience e JOIN person p ON p.id = e.person_id WHERE e.id = $1"
                ),
                &[&id],
                experience_from,
            )
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(experience)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.experience_by_uuid")]
    async fn experience_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Experience>> {
        self.fetch_opt(
            &format!(
                "SELECT {EXPERIENCE_COLS} FROM experience e JOIN person p ON p.id = e.person_id WHERE e.uuid = $1"
            ),
            &[&uuid],
            experience_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_experiences")]
    async fn list_experiences(
        &self,
        viewer_id: i64,
        filter: &ExperienceFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experience>> {
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {EXPERIENCE_COLS} FROM experience e JOIN person p ON p.id = e.person_id \
                     WHERE ($2::bigint IS NULL OR e.id < $2) \
                       AND ($3::timestamptz IS NULL OR e.created_at >= $3) \
                       AND ($4::timestamptz IS NULL OR e.created_at <= $4) \
                       AND ($5::uuid IS NULL OR p.uuid = $5) \
                       AND (e.visibility = $7 OR e.person_id = $1 OR {}) \
                     ORDER BY e.id DESC LIMIT $6",
                    contact_sql("$1", "e.person_id", "$8")
                ),
                &[
                    &viewer_id,
                    &page.after,
                    &filter.created_at_start,
                    &filter.created_at_end,
                    &filter.person_uuid,
                    &(page.fetch() as i64),
                    &Visibility::Public.as_str(),
                    &ConnectionStatus::Accepted.as_str(),
                ],
                experience_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |e| e.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_experience")]
    async fn delete_experience(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Reactions go by ON DELETE CASCADE.
        let uuid: Uuid = tx
            .fetch_opt(
                "DELETE FROM experience WHERE id = $1 RETURNING uuid",
                &[&id],
                |r| Ok(r.get(0)),
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::ExperienceNotFound))?;
        delete_parent_assets_tx(&tx, ParentType::Experience, &[uuid]).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_reaction")]
    async fn insert_reaction(
        &self,
        new: &NewReaction,
        events: &[EventEnvelope],
    ) -> StoreResult<(Reaction, bool)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The experience must still be there, and stay until commit.
        if tx
            .fetch_opt(
                "SELECT 1 FROM experience WHERE id = $1 FOR SHARE",
                &[&new.experience_id],
                |_| Ok(()),
            )
            .await?
            .is_none()
        {
            return Err(StoreError::Refused(Refusal::ExperienceNotFound));
        }
        // The 'LIKE' literal in ON CONFLICT stays: it is the arbiter index's predicate
        // (experience_reaction_one_like_key), and PostgreSQL infers the arbiter only from
        // a predicate it can prove at plan time; a `$n` there works for the first custom
        // plans and then, once the statement cache picks a generic plan, fails with
        // "there is no unique or exclusion constraint matching the ON CONFLICT
        // specification" (checked with plan_cache_mode = force_generic_plan).
        // A second LIKE meets experience_reaction_one_like_key and inserts nothing;
        // a concurrent one waits for the first to commit and then finds it.
        let inserted: Option<i64> = tx
            .fetch_opt(
                "INSERT INTO experience_reaction (uuid, person_id, experience_id, content, reaction_type, created_at, updated_at) \
                 SELECT $1, p.id, $3, $4, $5, $6, $6 FROM person p WHERE p.id = $2 \
                 ON CONFLICT (person_id, experience_id) WHERE reaction_type = 'LIKE' DO NOTHING \
                 RETURNING id",
                &[
                    &new.uuid,
                    &new.person_id,
                    &new.experience_id,
                    &new.content,
                    &new.reaction_type.as_str(),
                    &new.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        let (id, created): (i64, bool) = match inserted {
            Some(id) => (id, true),
            // Nothing inserted and not a like: only a vanished person explains it.
            None if new.reaction_type != ReactionType::Like => {
                return Err(StoreError::Refused(Refusal::PersonNotFound));
            }
            None => {
                let existing = tx
                    .fetch_opt(
                        "SELECT id FROM experience_reaction \
                         WHERE person_id = $1 AND experience_id = $2 AND reaction_type = $3",
                        &[
                            &new.person_id,
                            &new.experience_id,
                            &ReactionType::Like.as_str(),
                        ],
                        |r| Ok(r.get(0)),
                    )
                    .await?;
                match existing {
                    Some(id) => (id, false),
                    // Neither inserted nor an existing like: the person is gone.
                    None => return Err(StoreError::Refused(Refusal::PersonNotFound)),
                }
            }
        };
        let reaction = reaction_by_id_tx(&tx, id)
            .await?
            .ok_or_else(|| StoreError::Internal("stored reaction not readable".into()))?;
        if created {
            record(&tx, events).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok((reaction, created))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.reaction_by_uuid")]
    async fn reaction_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Reaction>> {
        self.fetch_opt(
            &format!("SELECT {REACTION_COLS} FROM {REACTION_JOINS} WHERE r.uuid = $1"),
            &[&uuid],
            reaction_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_reactions")]
    async fn list_reactions(
        &self,
        experience_id: i64,
        viewer_id: i64,
        scope: ReactionScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Reaction>> {
        let all = scope == ReactionScope::All;
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {REACTION_COLS} FROM {REACTION_JOINS} \
                     WHERE r.experience_id = $1 AND ($2::bigint IS NULL OR r.id < $2) \
                       AND ($3::bool OR r.person_id = $4 OR {}) \
                     ORDER BY r.id DESC LIMIT $5",
                    contact_sql("$4", "r.person_id", "$6")
                ),
                &[
                    &experience_id,
                    &page.after,
                    &all,
                    &viewer_id,
                    &(page.fetch() as i64),
                    &ConnectionStatus::Accepted.as_str(),
                ],
                reaction_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |r| r.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_reaction")]
    async fn delete_reaction(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if tx
            .exec("DELETE FROM experience_reaction WHERE id = $1", &[&id])
            .await?
            == 0
        {
            return Err(StoreError::Refused(Refusal::ReactionNotFound));
        }
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }
}

/// Deletes the asset rows whose parent is one of these experiences or listings (the
/// `asset` table has no foreign key to its polymorphic parent, so nothing cascades on
/// its own). Their objects are the service's to remove once the deletion committed.
pub(crate) async fn delete_parent_assets_tx(
    tx: &Tx<'_>,
    parent_type: ParentType,
    parent_uuids: &[Uuid],
) -> StoreResult<u64> {
    if parent_uuids.is_empty() {
        return Ok(0);
    }
    tx.exec(
        "DELETE FROM asset WHERE parent_type = $1 AND parent_uuid = ANY($2)",
        &[&parent_type.as_str(), &parent_uuids],
    )
    .await
}
