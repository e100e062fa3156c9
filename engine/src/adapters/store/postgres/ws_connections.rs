use super::{PgStore, Sql, map_err};
use crate::domain::refusal::Refusal;
use crate::domain::ws_connections::{NewWsConnection, WsConnection, WsConnectionStatus};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::ports::WsConnectionStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

/// Needs `JOIN person p ON p.id = w.person_id`.
const WS_COLS: &str = "w.id, w.uuid, w.ws_conn_id, w.person_id, p.uuid, w.status, w.connected_at, \
     w.disconnected_at, w.node_id, w.created_at, w.updated_at";

fn ws_from(r: &Row) -> StoreResult<WsConnection> {
    let status: String = r.get(5);
    Ok(WsConnection {
        id: r.get(0),
        uuid: r.get(1),
        ws_conn_id: r.get(2),
        person_id: r.get(3),
        person_uuid: r.get(4),
        status: WsConnectionStatus::parse(&status).map_err(StoreError::Internal)?,
        connected_at: r.get(6),
        disconnected_at: r.get(7),
        node_id: r.get(8),
        created_at: r.get(9),
        updated_at: r.get(10),
    })
}

#[async_trait]
impl WsConnectionStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_ws_connection")]
    async fn insert_ws_connection(&self, new: &NewWsConnection) -> StoreResult<WsConnection> {
        self.fetch_one(
            &format!(
                "WITH w AS (
                   INSERT INTO ws_connection (uuid, ws_conn_id, person_id, status, connected_at, node_id, created_at, updated_at)
                   VALUES ($1, $2, $3, $6, $4, $5, $4, $4) RETURNING *)
                 SELECT {WS_COLS} FROM w JOIN person p ON p.id = w.person_id"
            ),
            &[
                &new.uuid,
                &new.ws_conn_id,
                &new.person_id,
                &new.at,
                &new.node_id,
                &WsConnectionStatus::Connected.as_str(),
            ],
            ws_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.ws_connection_by_conn_id")]
    async fn ws_connection_by_conn_id(
        &self,
        ws_conn_id: &str,
    ) -> StoreResult<Option<WsConnection>> {
        self.fetch_opt(
            &format!(
                "SELECT {WS_COLS} FROM ws_connection w JOIN person p ON p.id = w.person_id WHERE w.ws_conn_id = $1"
            ),
            &[&ws_conn_id],
            ws_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.disconnect_ws_connection")]
    async fn disconnect_ws_connection(
        &self,
        ws_conn_id: &str,
        at: Timestamp,
    ) -> StoreResult<WsConnection> {
        // The CASE keeps the first disconnectedAt when the gateway repeats itself.
        self.fetch_opt(
            &format!(
                "WITH w AS (
                   UPDATE ws_connection SET
                       disconnected_at = CASE WHEN status = $3 THEN $2 ELSE disconnected_at END,
                       updated_at = CASE WHEN status = $3 THEN $2 ELSE updated_at END,
                       status = $4
                   WHERE ws_conn_id = $1 RETURNING *)
                 SELECT {WS_COLS} FROM w JOIN person p ON p.id = w.person_id"
            ),
            &[
                &ws_conn_id,
                &at,
                &WsConnectionStatus::Connected.as_str(),
                &WsConnectionStatus::Disconnected.as_str(),
            ],
            ws_from,
        )
        .await?
        .ok_or(StoreError::Refused(Refusal::WsConnectionNotFound))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_ws_connections")]
    async fn list_ws_connections(
        &self,
        person_id: i64,
        status: Option<WsConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<WsConnection>> {
        let status = status.map(|s| s.as_str());
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {WS_COLS} FROM ws_connection w JOIN person p ON p.id = w.person_id \
                     WHERE w.person_id = $1 AND ($2::bigint IS NULL OR w.id < $2) \
                       AND ($3::text IS NULL OR w.status = $3) \
                     ORDER BY w.id DESC LIMIT $4"
                ),
                &[&person_id, &page.after, &status, &(page.fetch() as i64)],
                ws_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |c| c.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.disconnect_node")]
    async fn disconnect_node(
        &self,
        node_id: Uuid,
        before: Timestamp,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.exec(
            "UPDATE ws_connection SET status = $5, disconnected_at = $3, updated_at = $3 \
             WHERE node_id = $1 AND status = $4 AND connected_at < $2",
            &[
                &node_id,
                &before,
                &at,
                &WsConnectionStatus::Connected.as_str(),
                &WsConnectionStatus::Disconnected.as_str(),
            ],
        )
        .await
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        name = "pg.prune_disconnected_ws_connections"
    )]
    async fn prune_disconnected_ws_connections(&self, before: Timestamp) -> StoreResult<u64> {
        self.exec(
            "DELETE FROM ws_connection WHERE status = $1 AND disconnected_at < $2",
            &[&WsConnectionStatus::Disconnected.as_str(), &before],
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.renew_node_lease")]
    async fn renew_node_lease(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.exec(
            "INSERT INTO node_lease (node_id, started_at, renewed_at, expires_at) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (node_id) DO UPDATE SET renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at",
            &[&node_id, &at, &expires_at],
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.reap_expired_nodes")]
    async fn live_nodes(&self, at: Timestamp) -> StoreResult<Vec<Uuid>> {
        self.fetch_all(
            "SELECT node_id FROM node_lease WHERE expires_at > $1 ORDER BY node_id",
            &[&at],
            |r| Ok(r.get(0)),
        )
        .await
    }

    async fn reap_expired_nodes(&self, at: Timestamp) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // SKIP LOCKED: when several nodes reap at once, each dead node is handled once.
        let dead: Vec<Uuid> = tx
            .fetch_all(
                "DELETE FROM node_lease WHERE node_id IN \
                 (SELECT node_id FROM node_lease WHERE expires_at < $1 FOR UPDATE SKIP LOCKED) RETURNING node_id",
                &[&at],
                |r| Ok(r.get(0)),
            )
            .await?;
        if dead.is_empty() {
            return Ok(0);
        }
        let closed = tx
            .exec(
                "UPDATE ws_connection SET status = $4, disconnected_at = $2, updated_at = $2 \
                 WHERE node_id = ANY($1) AND status = $3",
                &[
                    &dead,
                    &at,
                    &WsConnectionStatus::Connected.as_str(),
                    &WsConnectionStatus::Disconnected.as_str(),
                ],
            )
            .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(closed)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.nodes_of_persons")]
    async fn nodes_of_persons(
        &self,
        persons: &[Uuid],
        except: Uuid,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let connected = WsConnectionStatus::Connected.as_str();
        self.fetch_all(
            "SELECT DISTINCT p.uuid, w.node_id FROM ws_connection w JOIN person p ON p.id = w.person_id \
             WHERE p.uuid = ANY($1) AND w.status = $2 AND w.node_id IS NOT NULL AND w.node_id <> $3",
            &[&persons, &connected, &except],
            |r| Ok((r.get(0), r.get(1))),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.release_node_lease")]
    async fn release_node_lease(&self, node_id: Uuid) -> StoreResult<()> {
        self.exec("DELETE FROM node_lease WHERE node_id = $1", &[&node_id])
            .await?;
        Ok(())
    }
}
