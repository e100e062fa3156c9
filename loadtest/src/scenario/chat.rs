//! `chat`: N users over WebSocket in chats of `group_size`, open loop at a total rate.
//!
//! Every message carries two timestamps in its content (nanoseconds on this process's
//! clock): when it was queued for the socket's writer and when it was scheduled. Receivers measure
//! send→deliver from the first and schedule→deliver from the second, so a client that fell
//! behind its schedule shows as late sends, never as a slow server. Lost (acked, never
//! delivered), duplicates and out-of-order are judged by `seq` once the drain is over.

use super::{Clock, RateMeter, timed_phases};
use crate::api::{Api, User};
use crate::cli::ChatArgs;
use crate::progress::Progress;
use crate::report::Run;
use crate::stats::Recorder;
use crate::target::{ENGINE_DEFAULT_WS_BURST, ENGINE_DEFAULT_WS_RATE, Kind, Target};
use crate::ws::{self, Socket};
use anyhow::Context;
use futures_util::{SinkExt, StreamExt, stream};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Engine settings a chat run needs: the per-connection limits raised above what each
/// connection sends (twice the rate, four seconds of burst), never below the defaults; and
/// room in the anonymous REST bucket for creating the users.
pub fn engine_env(a: &ChatArgs) -> Vec<(&'static str, String)> {
    // With --mark-read each member also sends one markRead per message it receives.
    let frames_per_message = if a.mark_read {
        f64::from(a.group_size)
    } else {
        1.0
    };
    let per_conn = a.rate * frames_per_message / f64::from(a.users);
    let rate = (per_conn * 2.0).ceil().max(ENGINE_DEFAULT_WS_RATE);
    let burst = (per_conn * 4.0).ceil().max(ENGINE_DEFAULT_WS_BURST);
    let mut env = vec![
        ("METMOS__WS__MESSAGES_PER_SECOND", format!("{rate}")),
        ("METMOS__WS__BURST", format!("{burst}")),
    ];
    env.extend(crate::target::setup_env(a.users));
    env
}

/// Members of each chat, as indices into the users: groups of `size`, a smaller last group
/// when at least two are left, and a single leftover user in no chat.
pub fn groups(users: usize, size: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = (0..users)
        .collect::<Vec<_>>()
        .chunks(size.max(2))
        .map(<[usize]>::to_vec)
        .collect();
    if out.last().is_some_and(|g| g.len() < 2) {
        out.pop();
    }
    out
}

/// What one message's content carries: sent and scheduled times, then padding.
pub fn content(sent_ns: u64, sched_ns: u64, bytes: usize) -> String {
    let mut s = format!("{sent_ns}:{sched_ns}:");
    while s.len() < bytes {
        s.push('x');
    }
    s
}

pub fn parse_content(c: &str) -> Option<(u64, u64)> {
    let mut it = c.splitn(3, ':');
    let sent = it.next()?.parse().ok()?;
    let sched = it.next()?.parse().ok()?;
    Some((sent, sched))
}

/// The server frames the harness reads; borrowed, so reading costs no allocation.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    message_uuid: Option<&'a str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    chat_uuid: Option<&'a str>,
    #[serde(default, borrow)]
    message_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default, borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "ref", borrow)]
    reference: Option<&'a str>,
}

/// Counters read live by the progress bars and by the drain's "all done" check.
#[derive(Default)]
struct Live {
    sent: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
    delivered: AtomicU64,
    expected: AtomicU64,
    errors: AtomicU64,
    senders_done: AtomicU64,
}

struct Shared {
    clock: Clock,
    recorder: Recorder,
    live: Live,
    late_after: Duration,
    message_bytes: usize,
    /// Answer every chatMessage with a markRead up to its seq.
    mark_read: bool,
}

/// What one user's connection saw, judged after the drain.
struct UserOutcome {
    chat: usize,
    /// seq of this user's messages acked, scheduled in the window.
    acked_in_window: Vec<u64>,
    /// every seq received in the chat.
    received: HashSet<u64>,
    unacked_in_window: u64,
}

/// Sets the chat scenario up on `target` and runs it; one Run for the report.
pub async fn run(target: &Target, a: &ChatArgs, progress: &Progress) -> anyhow::Result<Run> {
    let api = target.api().for_setup();
    let c = &a.common;
    progress.note(&format!(
        "chat on the {} at {}: {} users, chats of {}, {} msg/s for {:?} after {:?} of warm-up",
        target.kind.label(),
        target.url,
        a.users,
        a.group_size,
        a.rate,
        c.duration,
        c.warmup
    ));

    // Setup, before any clock: users, contacts and chats, sockets.
    let tag = crate::api::run_tag();
    let bar = progress.count("users", u64::from(a.users));
    let users = api
        .users(&format!("lt{tag}c"), a.users, c.setup_concurrency, &|| {
            bar.inc(1)
        })
        .await
        .context("creating users")?;
    bar.finish();
    let groups = groups(users.len(), a.group_size as usize);
    let chats = make_chats(&api, &users, &groups, a, progress).await?;
    let mut chat_of = vec![None; users.len()];
    for (ci, g) in groups.iter().enumerate() {
        for &u in g {
            chat_of[u] = Some(ci);
        }
    }
    let bar = progress.count("sockets", users.len() as u64);
    let ws_url = api.ws_url();
    let sockets: Vec<Socket> = stream::iter(users.iter())
        .map(|u| {
            let (url, bar) = (ws_url.clone(), bar.clone());
            async move {
                let s = ws::connect(&url, &u.token, None).await;
                bar.inc(1);
                s
            }
        })
        .buffered(c.setup_concurrency as usize)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .context("opening the WebSockets")?;
    bar.finish();

    // The clock starts once everything is in place.
    let senders = groups.iter().map(Vec::len).sum::<usize>().max(1);
    let per_user_rate = a.rate / senders as f64;
    let shared = Arc::new(Shared {
        clock: Clock::starting_soon(c.warmup, c.duration, c.drain),
        recorder: Recorder::new(),
        live: Live::default(),
        late_after: a.late_after,
        message_bytes: a.message_bytes as usize,
        mark_read: a.mark_read,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(users.len());
    for (i, socket) in sockets.into_iter().enumerate() {
        let sending = chat_of[i].map(|ci| (ci, chats[ci].clone(), groups[ci].len() as u64 - 1));
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(user_task(
            socket,
            sending,
            per_user_rate,
            shared,
            stop,
        )));
    }

    let meter = RateMeter::new(4);
    let live = || {
        let l = &shared.live;
        let r = meter.rates(&[
            l.sent.load(Ordering::Relaxed),
            l.acked.load(Ordering::Relaxed),
            l.delivered.load(Ordering::Relaxed),
            l.errors.load(Ordering::Relaxed),
        ]);
        format!(
            "sent {:.0}/s  acked {:.0}/s  delivered {:.0}/s  errors {:.0}/s",
            r[0], r[1], r[2], r[3]
        )
    };
    let n_senders = chat_of.iter().filter(|c| c.is_some()).count() as u64;
    let drained = || {
        let l = &shared.live;
        l.senders_done.load(Ordering::Relaxed) >= n_senders
            && l.acked.load(Ordering::Relaxed) + l.refused.load(Ordering::Relaxed)
                >= l.sent.load(Ordering::Relaxed)
            && l.delivered.load(Ordering::Relaxed) >= l.expected.load(Ordering::Relaxed)
    };
    let cpu = timed_phases(progress, &shared.clock, target.pid, &live, &drained).await;
    let _ = stop_tx.send(true);

    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.context("a connection task failed")?);
    }
    judge(&shared.recorder, &groups, &outcomes);

    let mut run = Run::from_snapshot(
        target.kind.label(),
        target.url.as_str(),
        target.settings.clone(),
        shared.clock.window_secs(),
        "send→deliver",
        shared.recorder.snapshot(),
    );
    run.client_cpu_pct = cpu.client;
    run.server_cpu_pct = cpu.server;
    run.extra
        .insert("per-connection msg/s".into(), per_user_rate);
    if let (Some(cc), Some(d)) = (cpu.client, run.throughput.get("delivered/s"))
        && *d > 0.0
    {
        run.extra.insert(
            "client cpu ms per 1000 delivered".into(),
            cc * 10.0 / d * 1000.0,
        );
    }
    if target.kind == Kind::Engine
        && per_user_rate > ENGINE_DEFAULT_WS_RATE
        && !target
            .settings
            .contains_key("METMOS__WS__MESSAGES_PER_SECOND")
    {
        run.notes.push(format!(
            "each connection sends {per_user_rate:.1} msg/s, above the engine's default limit of {ENGINE_DEFAULT_WS_RATE}/s (burst {ENGINE_DEFAULT_WS_BURST}): raise METMOS__WS__MESSAGES_PER_SECOND and METMOS__WS__BURST on that engine or expect 429 error frames"
        ));
    }
    if users.len() > groups.iter().map(Vec::len).sum() {
        run.notes
            .push("one user was left over (a chat needs two) and only listened".into());
    }
    Ok(run)
}

async fn make_chats(
    api: &Api,
    users: &[User],
    groups: &[Vec<usize>],
    a: &ChatArgs,
    progress: &Progress,
) -> anyhow::Result<Vec<Arc<str>>> {
    let bar = progress.count("chats", groups.len() as u64);
    let made: Vec<Arc<str>> = stream::iter(groups.iter())
        .map(|g| {
            let bar = bar.clone();
            async move {
                let owner = &users[g[0]];
                let uuid = if g.len() == 2 {
                    api.make_contacts(owner, &users[g[1]]).await?;
                    api.contact_chat(owner, &users[g[1]]).await?
                } else {
                    let others: Vec<User> = g[1..].iter().map(|&i| users[i].clone()).collect();
                    api.group_chat(owner, &others).await?
                };
                bar.inc(1);
                Ok::<_, crate::api::ApiError>(Arc::from(uuid.as_str()))
            }
        })
        .buffered(a.common.setup_concurrency as usize)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| {
            if a.group_size > 2 {
                anyhow::anyhow!(
                    "{e}\nchats of {} need GROUP chats, which this server does not open: use --group-size 2",
                    a.group_size
                )
            } else {
                anyhow::anyhow!("opening the chats: {e}")
            }
        })?;
    bar.finish();
    Ok(made)
}

/// One user's connection: sends on its schedule (when it is in a chat), reads everything,
/// and keeps what the judgement after the drain needs.
/// One user's socket: sends on its schedule and reads everything delivered to it.
///
/// Sending never blocks reading. Frames go to a writer task through a queue, as an app's
/// WebSocket buffers sends (`bufferedAmount`) while its reader keeps going. With one task
/// that awaited each send, a server applying backpressure (not reading while it works on
/// this socket's earlier messages) stopped the client from reading too, the server's
/// writes to it then filled its buffer, and both sides waited on each other: seconds with
/// nothing delivered, caused by the client.
async fn user_task(
    ws: Socket,
    sending: Option<(usize, Arc<str>, u64)>,
    rate: f64,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> UserOutcome {
    let clock = shared.clock;
    let rec = &shared.recorder;
    let live = &shared.live;
    let interval_ns = (1e9 / rate.max(1e-6)) as u64;
    // A random phase spreads the senders evenly over each interval.
    let mut next_ns = (rand::random::<f64>() * interval_ns as f64) as u64;
    let end_ns = clock.ns(clock.window_end());
    let (chat, chat_uuid, receivers) = match &sending {
        Some((c, u, r)) => (*c, Some(u.clone()), *r),
        None => (usize::MAX, None, 0),
    };
    let mut sending_open = chat_uuid.is_some();
    let mut pending: HashMap<String, (u64, u64)> = HashMap::new();
    let mut out = UserOutcome {
        chat,
        acked_in_window: Vec::new(),
        received: HashSet::new(),
        unacked_in_window: 0,
    };
    let mut max_seq = 0u64;
    let mut alive = true;
    let (mut sink, mut ws) = ws.split();
    let (outgoing, mut to_write) = tokio::sync::mpsc::unbounded_channel::<Message>();
    let writer = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(frame) = to_write.recv().await {
                if let Err(e) = sink.send(frame).await {
                    let clock = shared.clock;
                    shared.recorder.error(
                        format!("ws send: {}", short(&e.to_string())),
                        clock.second(Instant::now()),
                    );
                    shared.live.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            let _ = sink.close().await;
        })
    };
    while alive {
        let next_at = clock.at_ns(next_ns);
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let reply = on_frame(
                        t.as_str(), &shared, &mut pending, &mut out, &mut max_seq, receivers,
                    );
                    // A failed send was counted by the writer.
                    if let Some(reply) = reply
                        && outgoing.send(Message::text(reply)).is_err()
                    {
                        alive = false;
                    }
                }
                Some(Ok(Message::Close(close))) => {
                    let cause = match close {
                        Some(c) => format!("connection closed by the server: {} {}", u16::from(c.code), short(&c.reason)),
                        None => "connection closed by the server: no code".into(),
                    };
                    rec.error(cause, clock.second(Instant::now()));
                    rec.count("sockets closed by the server", 1, None);
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    alive = false;
                }
                None => {
                    rec.error("connection ended by the server without a close frame", clock.second(Instant::now()));
                    rec.count("sockets closed by the server", 1, None);
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    alive = false;
                }
                Some(Err(e)) => {
                    // A reset: the server aborted the connection (or it broke).
                    rec.count("sockets closed by the server", 1, None);
                    rec.error(format!("ws read: {}", short(&e.to_string())), clock.second(Instant::now()));
                    live.errors.fetch_add(1, Ordering::Relaxed);
                    alive = false;
                }
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(next_at), if sending_open => {
                let Some(chat_uuid) = &chat_uuid else { break };
                let sched_ns = next_ns;
                next_ns += interval_ns;
                if next_ns >= end_ns {
                    sending_open = false;
                    live.senders_done.fetch_add(1, Ordering::Relaxed);
                }
                let now = Instant::now();
                let in_window = clock.in_window_ns(sched_ns);
                let lag = now.saturating_duration_since(clock.at_ns(sched_ns));
                if in_window {
                    rec.latency("client send lag", lag, None);
                    if lag > shared.late_after {
                        rec.count("late sends", 1, None);
                    }
                }
                let uuid = uuid::Uuid::new_v4().to_string();
                let sent_ns = clock.ns(Instant::now());
                let text = format!(
                    r#"{{"action":"sendMessage","data":{{"chatUuid":"{chat_uuid}","uuid":"{uuid}","messageContent":"{}","assetUuids":[]}}}}"#,
                    content(sent_ns, sched_ns, shared.message_bytes)
                );
                pending.insert(uuid, (sent_ns, sched_ns));
                live.sent.fetch_add(1, Ordering::Relaxed);
                if in_window {
                    rec.count("sent", 1, clock.second(now));
                }
                if outgoing.send(Message::text(text)).is_err() {
                    alive = false;
                }
            }
        }
    }
    if sending_open {
        live.senders_done.fetch_add(1, Ordering::Relaxed);
    }
    out.unacked_in_window = pending
        .values()
        .filter(|(_, sched)| clock.in_window_ns(*sched))
        .count() as u64;
    // The writer sends what is queued, then closes the socket.
    drop(outgoing);
    let _ = writer.await;
    out
}

fn short(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Reads one frame; answers what to send back (a markRead, with `--mark-read`).
fn on_frame(
    text: &str,
    shared: &Shared,
    pending: &mut HashMap<String, (u64, u64)>,
    out: &mut UserOutcome,
    max_seq: &mut u64,
    receivers: u64,
) -> Option<String> {
    let clock = &shared.clock;
    let rec = &shared.recorder;
    let live = &shared.live;
    let now = Instant::now();
    let now_ns = clock.ns(now);
    let second = clock.second(now);
    let Ok(f) = serde_json::from_str::<Frame>(text) else {
        rec.error("unparseable frame", second);
        live.errors.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    match f.kind {
        "chatMessage" => {
            live.delivered.fetch_add(1, Ordering::Relaxed);
            let times = f.message_content.as_deref().and_then(parse_content);
            let in_window = times.is_some_and(|(_, sched)| clock.in_window_ns(sched));
            if let Some(seq) = f.seq {
                if !out.received.insert(seq) {
                    if in_window {
                        rec.count("duplicates", 1, None);
                    }
                    return None;
                }
                if seq < *max_seq && in_window {
                    rec.count("out of order", 1, None);
                }
                *max_seq = (*max_seq).max(seq);
            }
            // Every delivery while the window runs, whatever its schedule: the rate
            // carried while the load is offered. "delivered" counts only messages
            // scheduled in the window, so its first seconds miss what the warm-up left
            // in flight (with seconds of latency, nearly all) and the drain adds the rest.
            if second.is_some() && now < clock.window_end() {
                rec.count("carried", 1, second);
            }
            if let (Some((sent, sched)), true) = (times, in_window) {
                rec.latency(
                    "send→deliver",
                    Duration::from_nanos(now_ns.saturating_sub(sent)),
                    second,
                );
                rec.latency(
                    "schedule→deliver",
                    Duration::from_nanos(now_ns.saturating_sub(sched)),
                    None,
                );
                rec.count("delivered", 1, second);
            }
            if shared.mark_read
                && let (Some(chat), Some(seq)) = (f.chat_uuid, f.seq)
            {
                if in_window {
                    rec.count("markRead sent", 1, None);
                }
                return Some(format!(
                    r#"{{"action":"markRead","data":{{"chatUuid":"{chat}","seq":{seq}}}}}"#
                ));
            }
        }
        "read" => rec.count("read frames", 1, None),
        "ack" => {
            let Some((sent, sched)) = f.message_uuid.and_then(|u| pending.remove(u)) else {
                rec.count("acks for no pending message", 1, None);
                return None;
            };
            live.acked.fetch_add(1, Ordering::Relaxed);
            live.expected.fetch_add(receivers, Ordering::Relaxed);
            if clock.in_window_ns(sched) {
                rec.latency(
                    "send→ack",
                    Duration::from_nanos(now_ns.saturating_sub(sent)),
                    None,
                );
                rec.count("acked", 1, second);
                if let Some(seq) = f.seq {
                    out.acked_in_window.push(seq);
                }
            }
        }
        "error" => {
            let code = f.status_code.unwrap_or(0);
            let msg = f.message.as_deref().map(short).unwrap_or_default();
            rec.error(format!("ws error frame {code}: {msg}"), second);
            live.errors.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = f.reference
                && pending.remove(r).is_some()
            {
                live.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Pongs, notifications: not this scenario's business.
        _ => {}
    }
    None
}

/// Lost: acked in the window but missing at a member after the drain.
fn judge(rec: &Recorder, groups: &[Vec<usize>], outcomes: &[UserOutcome]) {
    let mut lost = 0u64;
    let mut unacked = 0u64;
    for (ci, g) in groups.iter().enumerate() {
        for &sender in g {
            let o = &outcomes[sender];
            debug_assert_eq!(o.chat, ci);
            unacked += o.unacked_in_window;
            for seq in &o.acked_in_window {
                lost += g
                    .iter()
                    .filter(|&&m| m != sender && !outcomes[m].received.contains(seq))
                    .count() as u64;
            }
        }
    }
    rec.count("lost (acked, never delivered)", lost, None);
    rec.count("unacked (no ack nor error)", unacked, None);
    // Always in the report, zero included: overload must not close a socket that reads.
    rec.count("sockets closed by the server", 0, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_grouped_into_chats_of_at_least_two() {
        assert_eq!(groups(4, 2), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(groups(5, 2), vec![vec![0, 1], vec![2, 3]]);
        assert_eq!(groups(7, 3), vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert_eq!(groups(8, 3), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]);
        assert!(groups(1, 2).is_empty());
    }

    #[test]
    fn content_carries_both_timestamps_padded_to_size() {
        let c = content(123_456_789, 120_000_000, 64);
        assert_eq!(c.len(), 64);
        assert_eq!(parse_content(&c), Some((123_456_789, 120_000_000)));
        assert_eq!(content(1, 2, 0), "1:2:");
        assert_eq!(parse_content("hello"), None);
    }

    #[test]
    fn engine_limits_are_raised_only_above_the_defaults() {
        let parse = |args: &[&str]| {
            let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
            match cli.command {
                crate::cli::Command::Chat(a) => engine_env(&a),
                _ => unreachable!(),
            }
        };
        let low = parse(&["x", "chat", "--users", "100", "--rate", "200"]);
        assert_eq!(low[0].1, "20");
        assert_eq!(low[1].1, "40");
        let high = parse(&["x", "chat", "--users", "10", "--rate", "500"]);
        assert_eq!(high[0], ("METMOS__WS__MESSAGES_PER_SECOND", "100".into()));
        assert_eq!(high[1], ("METMOS__WS__BURST", "200".into()));
    }

    #[test]
    fn lost_counts_each_missing_member() {
        let rec = Recorder::new();
        let o = |chat, acked: Vec<u64>, received: Vec<u64>| UserOutcome {
            chat,
            acked_in_window: acked,
            received: received.into_iter().collect(),
            unacked_in_window: 1,
        };
        // Chat of three: user 0 sent 1 and 2; user 1 got both, user 2 only 1.
        let outcomes = vec![
            o(0, vec![1, 2], vec![]),
            o(0, vec![], vec![1, 2]),
            o(0, vec![], vec![1]),
        ];
        judge(&rec, &[vec![0, 1, 2]], &outcomes);
        let s = rec.snapshot();
        assert_eq!(s.counts["lost (acked, never delivered)"], 1);
        assert_eq!(s.counts["unacked (no ack nor error)"], 3);
        assert_eq!(s.counts["sockets closed by the server"], 0);
    }
}
