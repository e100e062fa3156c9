//! One module per resource. Each exposes `configure`, registering its handlers through
//! utoipa's service config, so a handler cannot be routed without being documented.

pub mod accounts;
pub mod assets;
pub mod blobs;
pub mod categories;
pub mod chats;
pub mod connections;
pub mod dev;
pub mod devices;
pub mod ethereum;
pub mod experiences;
pub mod health;
pub mod listings;
pub mod notifications;
pub mod offers;
pub mod orders;
pub mod people;
pub mod pushes;
pub mod wallets;
pub mod ws_connections;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig, dev_mode: bool) {
    health::configure(cfg);
    accounts::configure(cfg);
    people::configure(cfg);
    notifications::configure(cfg);
    connections::configure(cfg);
    experiences::configure(cfg);
    assets::configure(cfg);
    // marketplace
    categories::configure(cfg);
    listings::configure(cfg);
    offers::configure(cfg);
    wallets::configure(cfg);
    orders::configure(cfg);
    ethereum::configure(cfg);
    chats::configure(cfg);
    devices::configure(cfg);
    ws_connections::configure(cfg);
    crate::ws::configure(cfg);
    if dev_mode {
        dev::configure(cfg);
        pushes::configure(cfg);
    }
}
