//! Pages for people: the login page and its form, "my account", health probes, and the
//! static files (with the reference SPA).

pub mod account;
pub mod assets;
pub mod health;
pub mod login;
pub mod metrics;
