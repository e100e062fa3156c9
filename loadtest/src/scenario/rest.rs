//! `rest`: browse and search a seeded catalogue (`GET /listings?q=` with a realistic word
//! mix), search people, read chat history; open loop at a target rate or closed loop with C
//! workers; latency and throughput per endpoint, errors (429s included) by cause.

use super::{Clock, RateMeter, timed_phases};
use crate::api::{Api, ApiError, User};
use crate::cli::{Mix, RestArgs};
use crate::progress::Progress;
use crate::report::Run;
use crate::stats::Recorder;
use crate::target::Target;
use crate::ws;
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use rand::Rng;
use rand::seq::IndexedRandom;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What second-hand marketplaces list; searches draw from the same words, plus a few that
/// match nothing (people search for things nobody sells).
const NOUNS: &[&str] = &[
    "fridge",
    "bike",
    "guitar",
    "sofa",
    "desk",
    "lamp",
    "camera",
    "laptop",
    "phone",
    "table",
    "chair",
    "drill",
    "kayak",
    "tent",
    "stroller",
    "piano",
    "monitor",
    "speaker",
    "jacket",
    "bookshelf",
    "mattress",
    "skateboard",
    "microwave",
    "heater",
    "ladder",
];
const ADJECTIVES: &[&str] = &[
    "vintage", "old", "new", "wooden", "electric", "folding", "portable", "retro", "large",
    "small", "leather", "steel", "kids", "classic", "compact",
];
const PLACES: &[&str] = &[
    "Ryde",
    "Parramatta",
    "Bondi",
    "Newtown",
    "Manly",
    "Chatswood",
];
const MISSES: &[&str] = &["submarine", "telescope", "harpsichord"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Search,
    Browse,
    People,
    Chats,
    History,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Search => "GET /listings?q=",
            Kind::Browse => "GET /listings",
            Kind::People => "GET /people?q=",
            Kind::Chats => "GET /chats",
            Kind::History => "GET /chats/{uuid}/messages",
        }
    }

    /// Picks a kind by the mix's weights.
    pub fn pick(mix: &Mix, r: u32) -> Kind {
        let total = mix.search + mix.browse + mix.people + mix.chats + mix.history;
        let mut x = r % total.max(1);
        for (w, k) in [
            (mix.search, Kind::Search),
            (mix.browse, Kind::Browse),
            (mix.people, Kind::People),
            (mix.chats, Kind::Chats),
            (mix.history, Kind::History),
        ] {
            if x < w {
                return k;
            }
            x -= w;
        }
        Kind::Search
    }
}

/// A search phrase: mostly one listed noun, sometimes an adjective and a noun, sometimes a
/// word that matches nothing.
pub fn search_phrase(rng: &mut impl Rng) -> String {
    let roll = rng.random_range(0..100);
    let noun = NOUNS.choose(rng).copied().unwrap_or("bike");
    if roll < 60 {
        noun.to_string()
    } else if roll < 90 {
        format!(
            "{} {noun}",
            ADJECTIVES.choose(rng).copied().unwrap_or("old")
        )
    } else {
        MISSES
            .choose(rng)
            .copied()
            .unwrap_or("submarine")
            .to_string()
    }
}

struct Fixture {
    users: Vec<User>,
    chat: String,
}

/// Engine settings for this load: the per-person REST read bucket (`rate_limits.reads`,
/// 1200/min by default) raised to twice what each user sends in open loop, or out of reach
/// in closed loop (whose rate is whatever the server sustains); writes raised for seeding.
pub fn engine_env(a: &RestArgs) -> Vec<(&'static str, String)> {
    let reads_per_minute = match a.rate {
        Some(r) => ((r / f64::from(a.users) * 60.0 * 2.0).ceil() as u64).max(1200),
        None => 6_000_000,
    };
    let mut env = crate::target::setup_env(a.users);
    env.extend([
        (
            "METMOS__RATE_LIMITS__READS__PER_MINUTE",
            reads_per_minute.to_string(),
        ),
        (
            "METMOS__RATE_LIMITS__READS__BURST",
            (reads_per_minute / 2).max(600).to_string(),
        ),
        ("METMOS__RATE_LIMITS__WRITES__PER_MINUTE", "60000".into()),
        ("METMOS__RATE_LIMITS__WRITES__BURST", "1000".into()),
        // The chat history is sent as fast as the engine stores it.
        ("METMOS__WS__MESSAGES_PER_SECOND", SEED_WS_RATE.to_string()),
        ("METMOS__WS__BURST", SEED_WINDOW.to_string()),
    ]);
    env
}

/// Messages of the seeded history awaiting their ack at once: enough to keep a store
/// that commits in batches busy, few enough to stay inside the engine's queues.
const SEED_WINDOW: usize = 256;
/// The per-connection WebSocket rate an engine the harness starts gets for seeding.
const SEED_WS_RATE: u32 = 1_000_000;

pub async fn run(target: &Target, a: &RestArgs, progress: &Progress) -> anyhow::Result<Run> {
    let c = &a.common;
    let api = target.api();
    progress.note(&format!(
        "rest on the {} at {}: {} listings, {}, {:?} after {:?} of warm-up",
        target.kind.label(),
        target.url,
        a.listings,
        match a.rate {
            Some(r) => format!("open loop at {r} req/s"),
            None => format!("closed loop with {} workers", a.workers),
        },
        c.duration,
        c.warmup
    ));
    let fx = seed(&api.for_setup(), a, progress).await?;
    target.establish_database().await?;
    let fx = Arc::new(fx);
    let rec = Arc::new(Recorder::new());
    let clock = Clock::starting_soon(c.warmup, c.duration, c.drain);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicU64::new(0));

    let load = {
        let (api, fx, rec, done, errors, in_flight) = (
            api.clone(),
            fx.clone(),
            rec.clone(),
            done.clone(),
            errors.clone(),
            in_flight.clone(),
        );
        let (mix, rate, workers) = (a.mix, a.rate, a.workers);
        tokio::spawn(async move {
            let one = move |sched: Instant| {
                let (api, fx, rec, done, errors, in_flight) = (
                    api.clone(),
                    fx.clone(),
                    rec.clone(),
                    done.clone(),
                    errors.clone(),
                    in_flight.clone(),
                );
                async move {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let ok = request(&api, &fx, &mix, &rec, &clock, sched).await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            };
            tokio::time::sleep_until(clock.epoch).await;
            match rate {
                Some(rate) => {
                    // Open loop: requests leave on schedule whatever the server does.
                    let interval = Duration::from_secs_f64(1.0 / rate);
                    let mut k = 0u32;
                    loop {
                        let sched = clock.epoch + interval * k;
                        if sched >= clock.window_end() {
                            break;
                        }
                        tokio::time::sleep_until(sched).await;
                        tokio::spawn(one(sched));
                        k += 1;
                    }
                }
                None => {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..workers {
                        let one = one.clone();
                        set.spawn(async move {
                            while Instant::now() < clock.window_end() {
                                one(Instant::now()).await;
                            }
                        });
                    }
                    while set.join_next().await.is_some() {}
                }
            }
        })
    };

    let meter = RateMeter::new(2);
    let live = || {
        let r = meter.rates(&[done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed)]);
        format!(
            "{:.0} req/s  errors {:.0}/s  in flight {}",
            r[0],
            r[1],
            in_flight.load(Ordering::Relaxed)
        )
    };
    let drained = || load.is_finished() && in_flight.load(Ordering::Relaxed) == 0;
    let cpu = timed_phases(progress, &clock, target.pid, &live, &drained).await;
    load.abort();

    let mut run = Run::from_snapshot(
        target.kind.label(),
        target.url.as_str(),
        target.settings.clone(),
        clock.window_secs(),
        "all requests",
        rec.snapshot(),
    );
    run.client_cpu_pct = cpu.client;
    run.server_cpu_pct = cpu.server;
    run.extra
        .insert("catalogue listings".into(), f64::from(a.listings));
    run.notes.push(
        "REST rate limits (429 with Retry-After) count as errors by cause. An engine the harness starts gets METMOS__RATE_LIMITS__READS__PER_MINUTE / __BURST raised for this load; against a running engine raise them there (or spread the load over more --users)"
            .into(),
    );
    Ok(run)
}

/// One request of the mix; records its latency (when scheduled in the window) and errors.
async fn request(
    api: &Api,
    fx: &Fixture,
    mix: &Mix,
    rec: &Recorder,
    clock: &Clock,
    sched: Instant,
) -> bool {
    let (kind, path, token) = {
        let mut rng = rand::rng();
        let kind = Kind::pick(mix, rng.random());
        // Chats and history are read by the chat's own members (users 0 and 1); the
        // rest by anyone.
        let user = if matches!(kind, Kind::History | Kind::Chats) {
            &fx.users[rng.random_range(0..2)]
        } else {
            fx.users.choose(&mut rng).expect("users were seeded")
        };
        let path = match kind {
            Kind::Search => format!(
                "/listings?q={}&limit=20",
                search_phrase(&mut rng).replace(' ', "%20")
            ),
            Kind::Browse => {
                if rng.random_bool(0.3) {
                    "/listings?limit=20&listingType=ITEM_SALE".to_string()
                } else {
                    "/listings?limit=20".to_string()
                }
            }
            Kind::People => {
                let other = fx.users.choose(&mut rng).expect("users were seeded");
                // Half by exact username, half by a prefix.
                let q = if rng.random_bool(0.5) {
                    other.username.clone()
                } else {
                    other.username[..other.username.len().min(6)].to_string()
                };
                format!("/people?q={q}&limit=20")
            }
            Kind::Chats => "/chats?limit=20".to_string(),
            Kind::History => format!("/chats/{}/messages?limit=50", fx.chat),
        };
        (kind, path, user.token.clone())
    };
    let result = api.get_checked(&path, &token).await;
    let now = Instant::now();
    if !clock.in_window_ns(clock.ns(sched)) {
        return result.is_ok();
    }
    let second = clock.second(now);
    match result {
        Ok(_) => {
            let took = now.saturating_duration_since(sched);
            rec.latency(kind.label(), took, None);
            rec.latency("all requests", took, second);
            rec.count("requests", 1, second);
            rec.count(kind.label(), 1, None);
            true
        }
        Err(e) => {
            rec.count("requests", 1, second);
            rec.error(format!("{} {}", kind.label(), e.cause()), second);
            false
        }
    }
}

/// The catalogue, the browsing users, and one chat with history, before the clock starts.
async fn seed(api: &Api, a: &RestArgs, progress: &Progress) -> anyhow::Result<Fixture> {
    let c = &a.common;
    let tag = crate::api::run_tag();
    let bar = progress.count("users", u64::from(a.users));
    let users = api
        .users(&format!("lt{tag}r"), a.users, c.setup_concurrency, &|| {
            bar.inc(1)
        })
        .await
        .context("creating users")?;
    bar.finish();
    let category = api
        .item_category(&users[0])
        .await
        .context("finding an ITEM category (is this the engine?)")?;
    let bar = progress.count("listings", u64::from(a.listings));
    let made: Vec<Result<String, ApiError>> = stream::iter(0..a.listings)
        .map(|i| {
            let (users, category, bar) = (&users, &category, bar.clone());
            async move {
                let (title, description, price) = {
                    let mut rng = rand::rng();
                    let noun = NOUNS[i as usize % NOUNS.len()];
                    let adj = ADJECTIVES.choose(&mut rng).copied().unwrap_or("old");
                    let place = PLACES.choose(&mut rng).copied().unwrap_or("Ryde");
                    (
                        format!("{adj} {noun}"),
                        format!("A {adj} {noun} in good condition, pick up from {place}"),
                        format!("0.{:03}", rng.random_range(1..1000)),
                    )
                };
                let poster = &users[i as usize % users.len()];
                let r = api
                    .published_listing(poster, category, &title, &description, &price)
                    .await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(c.setup_concurrency as usize)
        .collect()
        .await;
    bar.finish();
    if let Some(Err(e)) = made.into_iter().find(|r| r.is_err()) {
        bail!("seeding the catalogue: {e}");
    }
    let chat = history_chat(api, &users[0], &users[1], a.chat_messages, progress).await?;
    Ok(Fixture { users, chat })
}

/// A CONTACT chat with `n` messages, sent over the WebSocket as the app sends them, up to
/// [`SEED_WINDOW`] awaiting their ack; a 429 (the per-connection limit of an engine the
/// operator runs) waits and sends that message again (a resend is idempotent by uuid).
async fn history_chat(
    api: &Api,
    a: &User,
    b: &User,
    n: u32,
    progress: &Progress,
) -> anyhow::Result<String> {
    api.make_contacts(a, b).await?;
    let chat = api.contact_chat(a, b).await?;
    let sock = ws::connect(&api.ws_url(), &a.token, None)
        .await
        .context("opening a WebSocket for the chat history")?;
    let (mut tx, mut rx) = sock.split();
    let frame = |i: u32, uuid: &str| {
        format!(
            r#"{{"action":"sendMessage","data":{{"chatUuid":"{chat}","uuid":"{uuid}","messageContent":"history message {i}","assetUuids":[]}}}}"#
        )
    };
    let bar = progress.count("history", u64::from(n));
    let started = Instant::now();
    // uuid → the message's number, for every message sent and not yet acked.
    let mut pending: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut again: Vec<(String, u32)> = Vec::new();
    let mut next = 0u32;
    let mut acked = 0u32;
    while acked < n {
        while pending.len() < SEED_WINDOW {
            let (uuid, i) = match again.pop() {
                Some(m) => m,
                None if next < n => {
                    next += 1;
                    (uuid::Uuid::new_v4().to_string(), next - 1)
                }
                None => break,
            };
            tx.send(Message::text(frame(i, &uuid))).await?;
            pending.insert(uuid, i);
        }
        let f = tokio::time::timeout(Duration::from_secs(10), rx.next())
            .await
            .context("no answer within 10 s while seeding history")?
            .context("the WebSocket closed while seeding history")??;
        let Message::Text(t) = f else { continue };
        let v: serde_json::Value = serde_json::from_str(t.as_str())?;
        match v["type"].as_str() {
            Some("ack") => {
                if let Some(uuid) = v["messageUuid"].as_str()
                    && pending.remove(uuid).is_some()
                {
                    acked += 1;
                    bar.inc(1);
                }
            }
            Some("error") if v["statusCode"].as_u64() == Some(429) => {
                let Some(m) = v["ref"].as_str().and_then(|r| pending.remove_entry(r)) else {
                    bail!("seeding history: {v}")
                };
                again.push(m);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some("error") => bail!("seeding history: {v}"),
            _ => {}
        }
    }
    bar.finish();
    progress.note(&format!(
        "history: {n} messages stored in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let _ = tx.close().await;
    Ok(chat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_follows_its_weights() {
        let mix = crate::cli::parse_mix("search=2,people=1").unwrap();
        let kinds: Vec<Kind> = (0..6).map(|r| Kind::pick(&mix, r)).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::Search,
                Kind::Search,
                Kind::People,
                Kind::Search,
                Kind::Search,
                Kind::People
            ]
        );
    }

    #[test]
    fn chats_take_their_share_of_the_mix() {
        let mix = crate::cli::parse_mix("chats=1,history=1").unwrap();
        let kinds: Vec<Kind> = (0..4).map(|r| Kind::pick(&mix, r)).collect();
        assert_eq!(
            kinds,
            vec![Kind::Chats, Kind::History, Kind::Chats, Kind::History]
        );
        assert_eq!(Kind::Chats.label(), "GET /chats");
    }

    #[test]
    fn search_phrases_are_mostly_listed_words() {
        let mut rng = rand::rng();
        let phrases: Vec<String> = (0..1000).map(|_| search_phrase(&mut rng)).collect();
        let hits = phrases
            .iter()
            .filter(|p| NOUNS.iter().any(|n| p.ends_with(n)))
            .count();
        assert!(hits > 800 && hits < 1000, "{hits}");
        assert!(phrases.iter().any(|p| p.contains(' ')));
    }
}
