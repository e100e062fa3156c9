//! Cross-node delivery. A frame for a person not online on this node goes, when the
//! cluster's `ws_connection` rows show them connected to another node, to that node's
//! own queue through the direct exchange `metmos.nodes` (routing key = node id), never
//! through `metmos.events`; the receiving node's bus bridge hands it to its Presence.
//! Only a person connected nowhere (or whose node's queue is gone, or while the broker
//! is down) is pushed instead.
//!
//! The sending side is one task fed in delivery order by [`crate::notifier::Delivery`]: it takes
//! whatever has queued up since its last round (up to [`MAX_BATCH`]), looks up where
//! all those persons are in ONE store query, and sends each node ONE message holding
//! every frame for it, in order. Per-chat order therefore holds from a room to a remote
//! session; frames of one chat stored by rooms on two nodes may still interleave, which
//! receivers settle by `seq` (see `ChatSeq`).

use crate::frames::{ChatSeq, Frame};
use crate::presence::{Presence, Route};
use actix::Addr;
use metmos_engine::Engine;
use metmos_engine::domain::time;
use metmos_engine::ports::PushMessage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Deliveries waiting for the cluster task; past this the Notifier pushes directly.
const QUEUE: usize = 65_536;
/// Deliveries resolved per round (one store query, one message per node).
pub const MAX_BATCH: usize = 512;

/// Figures for `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterStats {
    /// Frames sent to other nodes (one per frame and node).
    pub frames_sent: AtomicU64,
    /// Frames received from other nodes.
    pub frames_received: AtomicU64,
    /// Node messages whose node queue was gone or could not be sent to (pushed instead).
    pub sends_failed: AtomicU64,
}

/// One message on `metmos.nodes`: frames for persons of the receiving node, in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeBatch {
    pub from: Uuid,
    pub frames: Vec<NodeFrame>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NodeFrame {
    pub persons: Vec<Uuid>,
    pub frame: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<ChatSeq>,
}

/// A delivery whose local part is done; the rest is ours.
pub struct Pending {
    /// Those of the persons not online here.
    pub offline: Vec<Uuid>,
    /// Those online here, when other nodes are alive: they may have sockets there too
    /// (a phone on one node, a tablet on another). Never pushed.
    pub online_here: Vec<Uuid>,
    pub frame: Frame,
    pub order: Option<ChatSeq>,
    pub push: Option<PushMessage>,
}

/// The Notifier's handle on the cluster task.
#[derive(Clone)]
pub struct ClusterLink {
    tx: mpsc::Sender<Pending>,
    pushes: Pushes,
    /// Whether another node holds a live lease (refreshed every half lease): only then
    /// are persons online here also looked for elsewhere, so one node alone never pays
    /// a lookup for them.
    others_alive: Arc<AtomicBool>,
}

impl ClusterLink {
    /// Starts the task (on the current runtime).
    pub fn start(engine: Arc<Engine>, stats: Arc<ClusterStats>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let pushes = Pushes {
            engine: engine.clone(),
        };
        engine.spawn(run(engine.clone(), rx, pushes.clone(), stats));
        let others_alive = Arc::new(AtomicBool::new(false));
        engine.spawn(watch_other_nodes(engine.clone(), others_alive.clone()));
        Self {
            tx,
            pushes,
            others_alive,
        }
    }

    /// See [`ClusterLink::others_alive`] (the field).
    pub fn others_alive(&self) -> bool {
        self.others_alive.load(Ordering::Relaxed)
    }

    pub fn forward(&self, pending: Pending) {
        if let Err(e) = self.tx.try_send(pending) {
            // Saturated (or stopping): nobody elsewhere is tried; the offline get their
            // push, as they would with no cluster.
            let pending = e.into_inner();
            if let Some(push) = pending.push {
                self.pushes.send(pending.offline, Arc::new(push));
            }
        }
    }
}

/// Keeps `others_alive` up to date from the node leases, every half lease (a node that
/// joins is seen within that; one that dies, once its lease expires).
async fn watch_other_nodes(engine: Arc<Engine>, others_alive: Arc<AtomicBool>) {
    let every = Duration::from_millis((engine.settings.node.lease_secs * 500).max(200));
    let stop = engine.cancelled();
    loop {
        match engine.store.live_nodes(time::now()).await {
            Ok(nodes) => {
                let others = nodes.iter().any(|n| *n != engine.node_id);
                if others_alive.swap(others, Ordering::Relaxed) != others {
                    tracing::info!(others, "other live nodes changed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the node leases"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Pushes for persons connected nowhere go to the engine's bounded push queue, whose
/// workers send them: nothing on the delivery path waits for the push service.
#[derive(Clone)]
struct Pushes {
    engine: Arc<Engine>,
}

impl Pushes {
    fn send(&self, persons: Vec<Uuid>, push: Arc<PushMessage>) {
        for person in persons {
            self.engine.push_queue.enqueue(person, (*push).clone());
        }
    }
}

async fn run(
    engine: Arc<Engine>,
    mut rx: mpsc::Receiver<Pending>,
    pushes: Pushes,
    stats: Arc<ClusterStats>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let stop = engine.cancelled();
    loop {
        // Ends with the engine (its tracker waits for it), or when the Notifier is gone.
        let got = tokio::select! {
            n = rx.recv_many(&mut batch, MAX_BATCH) => n,
            _ = stop.cancelled() => 0,
        };
        if got == 0 {
            return;
        }
        let mut items = Vec::with_capacity(batch.len());
        for p in batch.drain(..) {
            if !p.offline.is_empty() || !p.online_here.is_empty() {
                items.push((
                    p.offline,
                    p.online_here,
                    p.frame,
                    p.order,
                    p.push.map(Arc::new),
                ));
            }
        }
        if items.is_empty() {
            continue;
        }
        let mut persons: Vec<Uuid> = items
            .iter()
            .flat_map(|i| i.0.iter().chain(i.1.iter()).copied())
            .collect();
        persons.sort_unstable();
        persons.dedup();
        let located = match engine
            .store
            .nodes_of_persons(&persons, engine.node_id)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell where persons are connected; pushing");
                Vec::new()
            }
        };
        // node → its frames, in delivery order.
        let mut per_node: BTreeMap<Uuid, Vec<NodeFrame>> = BTreeMap::new();
        for (offline, online_here, frame, order, _) in &items {
            let mut here: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
            for (person, node) in &located {
                if offline.contains(person) || online_here.contains(person) {
                    here.entry(*node).or_default().push(*person);
                }
            }
            for (node, persons) in here {
                per_node.entry(node).or_default().push(NodeFrame {
                    persons,
                    frame: frame.to_string(),
                    order: *order,
                });
            }
        }
        let mut reached: HashSet<Uuid> = HashSet::new();
        for (node, frames) in per_node {
            let count = frames.len() as u64;
            let who: Vec<Uuid> = frames.iter().flat_map(|f| f.persons.clone()).collect();
            let batch = NodeBatch {
                from: engine.node_id,
                frames,
            };
            let payload = match serde_json::to_vec(&batch) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "node batch does not serialize");
                    continue;
                }
            };
            match engine.bus.send_to_node(node, &payload).await {
                Ok(true) => {
                    stats.frames_sent.fetch_add(count, Ordering::Relaxed);
                    reached.extend(who);
                }
                Ok(false) => {
                    stats.sends_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%node, "node queue gone; its persons are pushed");
                }
                Err(e) => {
                    stats.sends_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%node, error = %e, "frames not sent to node; pushing");
                }
            }
        }
        for (offline, _, _, _, push) in items {
            if let Some(push) = push {
                let rest: Vec<Uuid> = offline
                    .into_iter()
                    .filter(|p| !reached.contains(p))
                    .collect();
                pushes.send(rest, push);
            }
        }
    }
}

/// The receiving side: frames another node sent this one, handed to Presence (those no
/// longer online here simply miss them and resync by history).
pub fn receive(payload: &[u8], presence: &Addr<Presence>, stats: &ClusterStats) {
    let batch: NodeBatch = match serde_json::from_slice(payload) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable node batch dropped");
            return;
        }
    };
    stats
        .frames_received
        .fetch_add(batch.frames.len() as u64, Ordering::Relaxed);
    for f in batch.frames {
        presence.do_send(Route {
            persons: f.persons,
            frame: Frame::from(f.frame),
            except: None,
            order: f.order,
            offline: None,
        });
    }
}
