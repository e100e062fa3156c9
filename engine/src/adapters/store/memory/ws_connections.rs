use super::{MemoryStore, State, page_newest_first};
use crate::domain::refusal::Refusal;
use crate::domain::ws_connections::{NewWsConnection, WsConnection, WsConnectionStatus};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::ports::WsConnectionStore;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

#[derive(Default)]
pub(crate) struct WsTables {
    pub connections: BTreeMap<i64, WsConnection>,
    by_conn_id: HashMap<String, i64>,
    /// node id → lease expiry.
    leases: HashMap<Uuid, Timestamp>,
}

fn disconnect(c: &mut WsConnection, at: Timestamp) -> bool {
    if c.status == WsConnectionStatus::Connected {
        c.status = WsConnectionStatus::Disconnected;
        c.disconnected_at = Some(at);
        c.updated_at = at;
        true
    } else {
        false
    }
}

impl State {
    /// Account deletion calls this inside its change: a deleted person's rows go.
    pub(crate) fn remove_person_ws_connections(&mut self, person_id: i64) {
        let ws = &mut self.ws;
        ws.connections.retain(|_, c| c.person_id != person_id);
        let live: std::collections::HashSet<i64> = ws.connections.keys().copied().collect();
        ws.by_conn_id.retain(|_, id| live.contains(id));
    }
}

#[async_trait]
impl WsConnectionStore for MemoryStore {
    async fn insert_ws_connection(&self, new: &NewWsConnection) -> StoreResult<WsConnection> {
        let mut s = self.state.write();
        let person_uuid = s
            .persons
            .get(&new.person_id)
            .map(|p| p.uuid)
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        if s.ws.by_conn_id.contains_key(&new.ws_conn_id) {
            return Err(StoreError::Refused(Refusal::WsConnectionExists));
        }
        let id = s.next_id("ws_connection");
        let conn = WsConnection {
            id,
            uuid: new.uuid,
            ws_conn_id: new.ws_conn_id.clone(),
            person_id: new.person_id,
            person_uuid,
            status: WsConnectionStatus::Connected,
            connected_at: new.at,
            disconnected_at: None,
            node_id: new.node_id,
            created_at: new.at,
            updated_at: new.at,
        };
        s.ws.connections.insert(id, conn.clone());
        s.ws.by_conn_id.insert(new.ws_conn_id.clone(), id);
        Ok(conn)
    }

    async fn ws_connection_by_conn_id(
        &self,
        ws_conn_id: &str,
    ) -> StoreResult<Option<WsConnection>> {
        let s = self.state.read();
        Ok(s.ws
            .by_conn_id
            .get(ws_conn_id)
            .and_then(|id| s.ws.connections.get(id))
            .cloned())
    }

    async fn disconnect_ws_connection(
        &self,
        ws_conn_id: &str,
        at: Timestamp,
    ) -> StoreResult<WsConnection> {
        let mut s = self.state.write();
        let id = *s
            .ws
            .by_conn_id
            .get(ws_conn_id)
            .ok_or(StoreError::Refused(Refusal::WsConnectionNotFound))?;
        let c =
            s.ws.connections
                .get_mut(&id)
                .ok_or(StoreError::Refused(Refusal::WsConnectionNotFound))?;
        disconnect(c, at);
        Ok(c.clone())
    }

    async fn list_ws_connections(
        &self,
        person_id: i64,
        status: Option<WsConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<WsConnection>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.ws.connections, page, |c| {
            (c.person_id == person_id && status.is_none_or(|st| c.status == st)).then(|| c.clone())
        }))
    }

    async fn disconnect_node(
        &self,
        node_id: Uuid,
        before: Timestamp,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let mut s = self.state.write();
        let mut n = 0;
        for c in s.ws.connections.values_mut() {
            if c.node_id == Some(node_id) && c.connected_at < before && disconnect(c, at) {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn prune_disconnected_ws_connections(&self, before: Timestamp) -> StoreResult<u64> {
        let mut s = self.state.write();
        let ws = &mut s.ws;
        let old: Vec<(i64, String)> = ws
            .connections
            .values()
            .filter(|c| {
                c.status == WsConnectionStatus::Disconnected
                    && c.disconnected_at.is_some_and(|at| at < before)
            })
            .map(|c| (c.id, c.ws_conn_id.clone()))
            .collect();
        for (id, conn_id) in &old {
            ws.connections.remove(id);
            ws.by_conn_id.remove(conn_id);
        }
        Ok(old.len() as u64)
    }

    async fn renew_node_lease(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        _at: Timestamp,
    ) -> StoreResult<()> {
        self.state.write().ws.leases.insert(node_id, expires_at);
        Ok(())
    }

    async fn reap_expired_nodes(&self, at: Timestamp) -> StoreResult<u64> {
        let mut s = self.state.write();
        let expired: Vec<Uuid> =
            s.ws.leases
                .iter()
                .filter(|(_, exp)| **exp < at)
                .map(|(n, _)| *n)
                .collect();
        let mut closed = 0;
        for c in s.ws.connections.values_mut() {
            if c.node_id.is_some_and(|n| expired.contains(&n)) && disconnect(c, at) {
                closed += 1;
            }
        }
        for n in expired {
            s.ws.leases.remove(&n);
        }
        Ok(closed)
    }

    async fn nodes_of_persons(
        &self,
        persons: &[Uuid],
        except: Uuid,
    ) -> StoreResult<Vec<(Uuid, Uuid)>> {
        let s = self.state.read();
        let mut found: Vec<(Uuid, Uuid)> =
            s.ws.connections
                .values()
                .filter(|c| c.status == WsConnectionStatus::Connected)
                .filter(|c| persons.contains(&c.person_uuid))
                .filter_map(|c| {
                    c.node_id
                        .filter(|n| *n != except)
                        .map(|n| (c.person_uuid, n))
                })
                .collect();
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    async fn live_nodes(&self, at: Timestamp) -> StoreResult<Vec<Uuid>> {
        let s = self.state.read();
        let mut nodes: Vec<Uuid> =
            s.ws.leases
                .iter()
                .filter(|(_, exp)| **exp > at)
                .map(|(n, _)| *n)
                .collect();
        nodes.sort_unstable();
        Ok(nodes)
    }

    async fn release_node_lease(&self, node_id: Uuid) -> StoreResult<()> {
        self.state.write().ws.leases.remove(&node_id);
        Ok(())
    }
}
