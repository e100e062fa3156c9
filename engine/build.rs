//! refinery's `embed_migrations!` reads `../migrations` when the crate compiles, but
//! cargo cannot see that: without this, a migration added or edited leaves a binary that
//! silently lacks it until some Rust file of the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
