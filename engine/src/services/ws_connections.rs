//! WebSocket connections as rows: opened and closed by this node's sockets, recorded by
//! API Gateway through the INTERNAL endpoints in `gateway` mode, listed by their owner;
//! and the node lease that lets the cluster close the rows of a node that died.

use crate::domain::people::Person;
use crate::domain::refusal::Refusal;
use crate::domain::time::{self, Timestamp};
use crate::domain::ws_connections::{
    NewWsConnection, RecordWsConnection, StatusChange, UpdateWsConnection, WsConnection,
    WsConnectionStatus,
};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::ports::Store;
use crate::services::people::Caller;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

#[derive(Clone)]
pub struct WsConnectionService {
    store: Arc<dyn Store>,
    node_id: Uuid,
    lease_secs: u64,
    keep_disconnected_days: u32,
}

/// How often the lease loop deletes old DISCONNECTED rows.
const PRUNE_PERIOD: Duration = Duration::from_secs(3600);

impl WsConnectionService {
    pub fn new(store: Arc<dyn Store>, node_id: Uuid, lease_secs: u64) -> Self {
        Self {
            store,
            node_id,
            lease_secs: lease_secs.max(3),
            keep_disconnected_days: 7,
        }
    }

    /// DISCONNECTED rows are deleted this many days after they disconnected.
    pub fn keep_disconnected_for(mut self, days: u32) -> Self {
        self.keep_disconnected_days = days.max(1);
        self
    }

    /// Deletes DISCONNECTED rows older than `ws.keep_disconnected_days` (every node runs
    /// this hourly; deleting what another node deleted already is a no-op). Answers how
    /// many went.
    #[tracing::instrument(skip_all)]
    pub async fn prune_disconnected(&self, now: Timestamp) -> u64 {
        let before = now - chrono::TimeDelta::days(i64::from(self.keep_disconnected_days));
        match self.store.prune_disconnected_ws_connections(before).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(deleted = n, "pruned old DISCONNECTED ws_connection rows");
                }
                n
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not prune DISCONNECTED ws_connection rows");
                0
            }
        }
    }

    /// A socket this node just accepted.
    #[tracing::instrument(skip_all)]
    pub async fn open(&self, person: &Person, ws_conn_id: &str) -> Result<WsConnection> {
        Ok(self
            .store
            .insert_ws_connection(&NewWsConnection {
                uuid: Uuid::new_v4(),
                ws_conn_id: ws_conn_id.to_string(),
                person_id: person.id,
                node_id: Some(self.node_id),
                at: time::now(),
            })
            .await?)
    }

    /// A socket of this node that closed.
    #[tracing::instrument(skip_all)]
    pub async fn close(&self, ws_conn_id: &str) -> Result<WsConnection> {
        Ok(self
            .store
            .disconnect_ws_connection(ws_conn_id, time::now())
            .await?)
    }

    /// `GET /ws_connections`: the caller's own, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<WsConnection>> {
        let me = caller.person()?;
        let status = status
            .filter(|s| !s.is_empty())
            .map(WsConnectionStatus::parse)
            .transpose()
            .map_err(Error::validation)?;
        Ok(self.store.list_ws_connections(me.id, status, &page).await?)
    }

    /// INTERNAL `POST /ws_connections`: API Gateway's `$connect` for the caller. The
    /// socket is held by the gateway, not by a node, so the row has no node id.
    #[tracing::instrument(skip_all)]
    pub async fn record_gateway(
        &self,
        caller: &Caller,
        cmd: RecordWsConnection,
    ) -> Result<WsConnection> {
        let me = caller.person()?;
        let ws_conn_id = cmd.ws_conn_id;
        Ok(self
            .store
            .insert_ws_connection(&NewWsConnection {
                uuid: Uuid::new_v4(),
                ws_conn_id,
                person_id: me.id,
                node_id: None,
                at: time::now(),
            })
            .await?)
    }

    /// The caller's own connection by its gateway id; anyone else's is 404.
    #[tracing::instrument(skip_all)]
    pub async fn own(&self, caller: &Caller, ws_conn_id: &str) -> Result<WsConnection> {
        let me = caller.person()?;
        match self.store.ws_connection_by_conn_id(ws_conn_id).await? {
            Some(c) if c.person_id == me.id => Ok(c),
            _ => Err(Error::Refused(Refusal::WsConnectionNotFound)),
        }
    }

    /// INTERNAL `PATCH /ws_connections/{wsConnId}`: the gateway's `$disconnect`.
    #[tracing::instrument(skip_all)]
    pub async fn update_gateway(
        &self,
        caller: &Caller,
        ws_conn_id: &str,
        cmd: UpdateWsConnection,
    ) -> Result<WsConnection> {
        let current = self.own(caller, ws_conn_id).await?;
        let Some(to) = cmd.status else {
            return Ok(current);
        };
        match current.status.transition(to).map_err(Error::Conflict)? {
            StatusChange::Unchanged => Ok(current),
            StatusChange::Disconnect => self.close(ws_conn_id).await,
        }
    }

    /// Messages "sent on" a gateway connection need it open and the caller's.
    #[tracing::instrument(skip_all)]
    pub async fn open_gateway_connection(
        &self,
        caller: &Caller,
        ws_conn_id: &str,
    ) -> Result<WsConnection> {
        let c = self.own(caller, ws_conn_id).await?;
        if c.status != WsConnectionStatus::Connected {
            return Err(Error::conflict("WsConnection is DISCONNECTED"));
        }
        Ok(c)
    }

    /// Runs while the node serves: at start, closes this node's rows left CONNECTED by
    /// a previous run (a crash: nobody closed them); then renews the lease every third
    /// of its length and closes the rows of nodes whose lease expired; on shutdown,
    /// closes this node's rows and gives the lease back.
    pub async fn run_node_lease(self, mut shutdown: broadcast::Receiver<()>) {
        let node = self.node_id;
        let started = time::now();
        match self.store.disconnect_node(node, started, started).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(%node, closed = n, "closed connections left open by this node's previous run")
            }
            Err(e) => {
                tracing::warn!(%node, error = %e, "could not close this node's stale connections")
            }
        }
        let period = Duration::from_secs(self.lease_secs / 3);
        let lease = chrono::TimeDelta::seconds(self.lease_secs as i64);
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            let now = time::now();
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_PERIOD) {
                last_prune = Some(std::time::Instant::now());
                self.prune_disconnected(now).await;
            }
            if let Err(e) = self.store.renew_node_lease(node, now + lease, now).await {
                tracing::warn!(%node, error = %e, "node lease not renewed");
            }
            match self.store.reap_expired_nodes(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    closed = n,
                    "closed connections of nodes whose lease expired"
                ),
                Err(e) => tracing::warn!(error = %e, "could not reap expired nodes"),
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.recv() => break,
            }
        }
        let now = time::now();
        // Everything this node holds is going away with it, even a socket of this instant.
        let all = now + chrono::TimeDelta::seconds(1);
        if let Err(e) = self.store.disconnect_node(node, all, now).await {
            tracing::warn!(%node, error = %e, "could not close this node's connections on shutdown");
        }
        if let Err(e) = self.store.release_node_lease(node).await {
            tracing::warn!(%node, error = %e, "node lease not released");
        }
    }
}
