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
    History,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Search => "GET /listings?q=",
            Kind::Browse => "GET /listings",
            Kind::People => "GET /people?q=",
            Kind::History => "GET /chats/{uuid}/messages",
        }
    }

    /// Picks a kind by the mix's weights.
    pub fn pick(mix: &Mix, r: u32) -> Kind {
        let total = mix.search + mix.browse + mix.people + mix.history;
        let mut x = r % total.max(1);
        for (w, k) in [
            (mix.search, Kind::Search),
            (mix.browse, Kind::Browse),
            (mix.people, Kind::People),
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
    ]);
    env
}

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
        // History is read by the chat's own members (users 0 and 1); the rest by anyone.
        let user = if kind == Kind::History {
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
            Kind::History => format!("/chats/{}/messages?limit=50", fx.chat),
        };
        (kind, path, user.token.clone())
    };
    let result = api.get(&path, &token).await;
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
    let chat = history_chat(api, &users[0], &users[1], a.history_messages, progress).await?;
    Ok(Fixture { users, chat })
}

/// A CONTACT chat with `n` messages, sent over the WebSocket as the app sends them; a 429
/// (the per-connection limit) waits and sends again.
async fn history_chat(
    api: &Api,
    a: &User,
    b: &User,
    n: u32,
    progress: &Progress,
) -> anyhow::Result<String> {
    api.make_contacts(a, b).await?;
    let chat = api.contact_chat(a, b).await?;
    let mut sock = ws::connect(&api.ws_url(), &a.token, None)
        .await
        .context("opening a WebSocket for the chat history")?;
    let bar = progress.count("history", u64::from(n));
    for i in 0..n {
        let uuid = uuid::Uuid::new_v4().to_string();
        let frame = format!(
            r#"{{"action":"sendMessage","data":{{"chatUuid":"{chat}","uuid":"{uuid}","messageContent":"history message {i}","assetUuids":[]}}}}"#
        );
        loop {
            sock.send(Message::text(frame.clone())).await?;
            let answer = tokio::time::timeout(Duration::from_secs(10), async {
                while let Some(f) = sock.next().await {
                    if let Message::Text(t) = f? {
                        let v: serde_json::Value = serde_json::from_str(t.as_str())?;
                        if v["type"] == "ack" || v["type"] == "error" {
                            return Ok::<_, anyhow::Error>(v);
                        }
                    }
                }
                bail!("the WebSocket closed while seeding history")
            })
            .await
            .context("no ack within 10 s while seeding history")??;
            match (answer["type"].as_str(), answer["statusCode"].as_u64()) {
                (Some("ack"), _) => break,
                (_, Some(429)) => tokio::time::sleep(Duration::from_millis(500)).await,
                _ => bail!("seeding history: {answer}"),
            }
        }
        bar.inc(1);
    }
    bar.finish();
    let _ = sock.close(None).await;
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
