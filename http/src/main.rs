//! `metmos`: serve (default), `migrate`, `dev-user NAME`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use metmos_engine::Engine;
use metmos_engine::adapters::store::postgres::PgStore;
use metmos_engine::config::{AuthMode, Settings};
use metmos_engine::domain::people::{Email, PersonFields, Username};
use metmos_http::startup::Application;
use metmos_http::telemetry;
use std::path::PathBuf;

/// mimalloc instead of glibc malloc: the realtime path allocates on many threads per
/// message (frames, mailbox envelopes, futures), where glibc's arenas cost 11 % of the
/// samples at 50k msg/s (issue 14).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "metmos",
    version,
    about = "The Metmos engine: People API, Listing API, realtime chat and escrow"
)]
struct Cli {
    /// A TOML file layered over the embedded defaults (env vars METMOS__SECTION__KEY win).
    #[arg(long, global = true, env = "METMOS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP and WebSocket (the default).
    Serve,
    /// Apply database migrations to `database.url` and exit.
    Migrate,
    /// Dev mode: create an ACTIVE user in the configured store and print its token.
    DevUser {
        username: String,
        /// Default: USERNAME@example.com.
        #[arg(long)]
        email: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            // One clear line, no panic trace: the operator fixes the named key.
            eprintln!("metmos: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let runtime = actix_web::rt::System::new();
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metmos: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let engine = Engine::start(settings)
                .await
                .context("engine did not start")?;
            let app = Application::build(engine.clone())
                .await
                .context("could not bind the HTTP port")?;
            tracing::info!(
                address = %format!("http://{}:{}", engine.settings.http.host, app.port()),
                docs = %format!("{}/docs", engine.settings.http.public_url()),
                "metmos serving"
            );
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Migrate => {
            let url = settings
                .database
                .url
                .as_deref()
                .context("database.url is not set (METMOS__DATABASE__URL)")?;
            let store = PgStore::connect(url, &settings.database)
                .await
                .context("cannot reach the database")?;
            let applied = store.migrate().await?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::DevUser { username, email } => {
            anyhow::ensure!(
                settings.auth.mode == AuthMode::Dev,
                "dev-user needs auth.mode = \"dev\""
            );
            if settings.database.url.is_none() {
                eprintln!(
                    "note: no database.url, so this user lives in this process's memory only; \
                     use POST /dev/users against a running engine instead"
                );
            }
            let mut settings = settings;
            settings.database.migrate_on_start = true;
            let engine = Engine::start(settings).await?;
            let email = email.unwrap_or_else(|| format!("{username}@example.com"));
            let fields = PersonFields::named(
                Username::parse(&username).map_err(anyhow::Error::msg)?,
                Email::parse(&email).map_err(anyhow::Error::msg)?,
            );
            let (account, person) = engine
                .people
                .create_dev_user(fields)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let token = engine
                .auth
                .mint_dev_token(&account.cognito_user_id)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("person {} (account {})", person.uuid, account.uuid);
            println!("{token}");
            engine.shutdown();
            Ok(())
        }
    }
}
